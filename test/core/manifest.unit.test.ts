import { describe, expect, it } from 'vitest';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import {
  externalDataName,
  parseManifest,
  textTowerExternalData,
  textTowerFile,
  textTowerIdentity,
} from '../../src/core/manifest';

type RawManifest = {
  text: { files: Record<string, string>; external_data?: Record<string, string> };
  files: Record<string, { sha256: string; bytes: number }>;
};

/** koclip-tiny's manifest with its int8 tower's weights declared as external data at `data`. */
function withExternalData(data: string, tower = 'text-int8.onnx', listed = true): unknown {
  const m = structuredClone(manifestJson) as RawManifest;
  m.text.files.int8 = tower;
  m.text.external_data = { int8: data };
  if (listed) m.files[data] = { sha256: 'a'.repeat(64), bytes: 10 };
  return m;
}

describe('manifest: text.external_data', () => {
  it('is absent from one-file packages (koclip-tiny)', () => {
    const tiny = parseManifest(manifestJson);
    expect(textTowerExternalData(tiny)).toBeUndefined();
    expect(textTowerExternalData(tiny, 'fp32')).toBeUndefined();
  });

  it('names the data file of a variant beside its tower', () => {
    const m = parseManifest(withExternalData('text-int8.onnx.data'));
    expect(textTowerFile(m)).toBe('text-int8.onnx');
    expect(textTowerExternalData(m)).toBe('text-int8.onnx.data');
    expect(textTowerExternalData(m, 'fp32')).toBeUndefined();
    const nested = parseManifest(withExternalData('towers/text-int8.onnx.data', 'towers/text-int8.onnx'));
    expect(textTowerExternalData(nested)).toBe('towers/text-int8.onnx.data');
    expect(externalDataName('towers/text-int8.onnx.data')).toBe('text-int8.onnx.data');
    expect(externalDataName('text-int8.onnx.data')).toBe('text-int8.onnx.data');
  });

  it.each([
    [
      withExternalData('data/text-int8.onnx.data'),
      'text.external_data.int8 (data/text-int8.onnx.data) is not in the folder of text-int8.onnx',
    ],
    [
      withExternalData('text-int8.onnx.data', 'towers/text-int8.onnx'),
      'is not in the folder of towers/text-int8.onnx',
    ],
    [
      withExternalData('text-int8.onnx.data', 'text-int8.onnx', false),
      '(text-int8.onnx.data) is not in files',
    ],
    [
      withExternalData('../text-int8.onnx.data'),
      'text.external_data.int8: must be a relative path inside the package',
    ],
  ])('refuses a data file the Worker could not hand to onnxruntime (%#)', (json, message) => {
    expect(() => parseManifest(json)).toThrow(message);
  });

  it('identifies a tower by its files, its external data included', () => {
    const tiny = parseManifest(manifestJson);
    expect(textTowerIdentity(tiny)).toBe(
      `koclip-tiny@${tiny.version}#${tiny.files['text-int8.onnx']?.sha256.slice(0, 16)}:int8`,
    );
    const a = parseManifest(withExternalData('text-int8.onnx.data'));
    const other = withExternalData('text-int8.onnx.data') as RawManifest;
    other.files['text-int8.onnx.data'] = { sha256: 'b'.repeat(64), bytes: 10 };
    const b = parseManifest(other);
    // Same graph file, other weights: another tower.
    expect(textTowerIdentity(a)).toMatch(/#[0-9a-f]{16}\+a{16}:int8$/);
    expect(textTowerIdentity(b)).not.toBe(textTowerIdentity(a));
    expect(textTowerIdentity(a, 'fp32')).not.toContain('+');
  });

  it('refuses external data for a variant without a tower', () => {
    const m = structuredClone(manifestJson) as RawManifest;
    delete m.text.files.fp32;
    m.text.external_data = { fp32: 'text-fp32.onnx.data' };
    m.files['text-fp32.onnx.data'] = { sha256: 'a'.repeat(64), bytes: 10 };
    expect(() => parseManifest(m)).toThrow('text.external_data.fp32 without a fp32 tower');
  });
});
