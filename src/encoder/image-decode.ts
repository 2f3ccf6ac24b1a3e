/**
 * Decoding with sharp (libvips): the header is read first so that unsupported formats and
 * decompression bombs are refused before any pixel is decoded; then the first frame is decoded,
 * EXIF orientation applied, converted to sRGB and transparency flattened onto white.
 */
import sharp, { type Metadata } from 'sharp';
import { EncoderError } from './errors';
import { flattenOnWhite, type RgbImage } from './pil-resample';

/** Formats the encoder accepts (sharp's format names). */
export const ACCEPTED_FORMATS = ['jpeg', 'png', 'webp', 'gif'] as const;
type AcceptedFormat = (typeof ACCEPTED_FORMATS)[number];

export interface DecodeLimits {
  /** Largest width x height of the (first frame of the) image. */
  pixels: number;
}

export interface DecodedImage extends RgbImage {
  format: AcceptedFormat;
}

const TRUNCATION = /premature end|unexpected end|truncat|read error|not enough|short read|end of file|eof/i;

function isAccepted(format: string | undefined): format is AcceptedFormat {
  return (ACCEPTED_FORMATS as readonly string[]).includes(format ?? '');
}

function decodeFailure(error: unknown, stage: 'header' | 'pixels'): EncoderError {
  const message = error instanceof Error ? error.message : String(error);
  if (/unsupported image format/i.test(message)) {
    return new EncoderError(
      422,
      'not_an_image',
      'the body is not an image the encoder can read (JPEG, PNG, WebP, GIF)',
    );
  }
  if (/exceeds pixel limit/i.test(message)) {
    return new EncoderError(413, 'too_many_pixels', 'the image has more pixels than the encoder accepts');
  }
  if (TRUNCATION.test(message)) {
    return new EncoderError(422, 'truncated_image', `the image data ends early (${stage})`);
  }
  return new EncoderError(422, 'corrupt_image', `the image could not be decoded (${stage})`);
}

/** Decodes one image to 8-bit RGB, refusing what the limits or the accepted formats forbid. */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedImage> {
  if (bytes.length === 0) throw new EncoderError(400, 'empty_image', 'the image is empty (0 bytes)');
  // One instance: the header read by metadata() is not parsed twice. First frame only (pages: 1);
  // libvips refuses anything past the pixel limit on its own as well.
  const input = sharp(bytes, { pages: 1, limitInputPixels: limits.pixels, failOn: 'truncated' });
  let meta: Metadata;
  try {
    meta = await input.metadata();
  } catch (error) {
    throw decodeFailure(error, 'header');
  }
  if (!isAccepted(meta.format)) {
    throw new EncoderError(
      422,
      'unsupported_format',
      `${meta.format ?? 'this'} images are not supported; send JPEG, PNG, WebP or GIF`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new EncoderError(422, 'corrupt_image', 'the image header has no size');
  if (width * height > limits.pixels) {
    throw new EncoderError(
      413,
      'too_many_pixels',
      `the image is ${width}x${height} = ${width * height} pixels; the limit is ${limits.pixels}`,
    );
  }
  const format = meta.format;
  try {
    const pipeline = input.autoOrient().toColourspace('srgb');
    const hasAlpha = meta.hasAlpha === true;
    const { data, info } = await (hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha())
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (info.channels === 4) {
      return {
        format,
        width: info.width,
        height: info.height,
        data: flattenOnWhite(pixels, info.width, info.height),
      };
    }
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    return { format, width: info.width, height: info.height, data: pixels };
  } catch (error) {
    throw decodeFailure(error, 'pixels');
  }
}
