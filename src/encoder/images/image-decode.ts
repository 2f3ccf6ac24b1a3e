/**
 * Decoding with sharp (libvips): only JPEG, PNG, WebP and GIF (recognised by their magic numbers)
 * reach libvips, which refuses decompression bombs from the header; then the first frame is
 * decoded, EXIF orientation applied, converted to sRGB and transparency flattened onto white.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { type ImageFormat, sniffImageFormat } from '../../core/contract/media-types';
import { EncoderError } from '../http/errors';
import { flattenOnWhite, type RgbImage } from './pil-resample';

/** Formats the encoder accepts (sharp's format names; recognised by src/core/contract/media-types.ts). */
export const ACCEPTED_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp', 'gif'];
type AcceptedFormat = ImageFormat;

export interface DecodeLimits {
  /** Largest width x height of the (first frame of the) image. */
  pixels: number;
}

export interface DecodedImage extends RgbImage {
  format: AcceptedFormat;
}

const NOT_AN_IMAGE = 'the body is not an image the encoder can read (JPEG, PNG, WebP, GIF)';

const TRUNCATION = /premature end|unexpected end|truncat|read error|not enough|short read|end of file|eof/i;

function isAccepted(format: string | undefined): format is AcceptedFormat {
  return (ACCEPTED_FORMATS as readonly string[]).includes(format ?? '');
}

function decodeFailure(error: unknown, stage: 'header' | 'pixels'): EncoderError {
  const message = error instanceof Error ? error.message : String(error);
  if (/unsupported image format/i.test(message)) return new EncoderError(422, 'not_an_image', NOT_AN_IMAGE);
  if (/exceeds pixel limit/i.test(message)) {
    return new EncoderError(413, 'too_many_pixels', 'the image has more pixels than the encoder accepts');
  }
  if (TRUNCATION.test(message)) {
    return new EncoderError(422, 'truncated_image', `the image data ends early (${stage})`);
  }
  return new EncoderError(422, 'corrupt_image', `the image could not be decoded (${stage})`);
}

/**
 * Why an image is refused, from its header (libvips reads only the header here): an unsupported
 * format is named, an image over the pixel limit has its size in the message.
 */
async function refusal(
  bytes: Uint8Array,
  limits: DecodeLimits,
  fallback: EncoderError,
): Promise<EncoderError> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { pages: 1, limitInputPixels: false }).metadata();
  } catch (error) {
    return decodeFailure(error, 'header');
  }
  if (!isAccepted(meta.format)) {
    return new EncoderError(
      422,
      'unsupported_format',
      `${meta.format ?? 'this'} images are not supported; send JPEG, PNG, WebP or GIF`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width * height > limits.pixels) {
    return new EncoderError(
      413,
      'too_many_pixels',
      `the image is ${width}x${height} = ${width * height} pixels; the limit is ${limits.pixels}`,
    );
  }
  return fallback;
}

/**
 * Decodes one image to 8-bit RGB, refusing what the limits or the accepted formats forbid. The
 * format is recognised from its magic numbers before libvips sees the bytes, so no other loader
 * (SVG, TIFF, PDF...) ever runs; libvips refuses an image over the pixel limit from its header,
 * before decoding any pixel. The header is read a second time only to explain a refusal.
 */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedImage> {
  if (bytes.length === 0) throw new EncoderError(400, 'empty_image', 'the image is empty (0 bytes)');
  const format = sniffImageFormat(bytes);
  if (!format) throw await refusal(bytes, limits, new EncoderError(422, 'not_an_image', NOT_AN_IMAGE));
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // First frame only (pages: 1); orientation from EXIF; any colour space to sRGB, keeping alpha.
    decoded = await sharp(bytes, { pages: 1, limitInputPixels: limits.pixels, failOn: 'truncated' })
      .autoOrient()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    const failure = decodeFailure(error, 'pixels');
    throw failure.code === 'too_many_pixels' ? await refusal(bytes, limits, failure) : failure;
  }
  const { data, info } = decoded;
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === 4) {
    return {
      format,
      width: info.width,
      height: info.height,
      data: flattenOnWhite(pixels, info.width, info.height),
    };
  }
  if (info.channels !== 3) {
    throw new EncoderError(422, 'corrupt_image', `the image decoded to ${info.channels} channels, not RGB`);
  }
  return { format, width: info.width, height: info.height, data: pixels };
}
