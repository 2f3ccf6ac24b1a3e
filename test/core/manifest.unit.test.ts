import { describe, expect, it } from 'vitest';
import manifestJson from '../../models/koclip-tiny/manifest.json';
import {
  externalDataName,
  parseManifest,
  textTowerExternalData,
  textTowerFile,
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

  it('refuses external data for a variant without a tower', () => {
    const m = structuredClone(manifestJson) as RawManifest;
    delete m.text.files.fp32;
    m.text.external_data = { fp32: 'text-fp32.onnx.data' };
    m.files['text-fp32.onnx.data'] = { sha256: 'a'.repeat(64), bytes: 10 };
    expect(() => parseManifest(m)).toThrow('text.external_data.fp32 without a fp32 tower');
  });
});
