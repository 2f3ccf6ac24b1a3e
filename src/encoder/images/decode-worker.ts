/**
 * Decode worker thread: prepares images off the event loop (sharp decodes on libuv threads, the
 * Pillow-exact resampling is plain JavaScript and would otherwise block the HTTP server).
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { EncoderError } from '../http/errors';
import { type PrepareJob, prepareImage } from './prepare-image';

// One libvips thread per image: the pool parallelises across images instead.
sharp.concurrency(1);
// No libvips operation cache: every image is new, so caching only costs memory and time.
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error('decode-worker must run as a worker thread');

port.on('message', async (message: { id: number; job: PrepareJob }) => {
  try {
    const prepared = await prepareImage(message.job);
    port.postMessage(
      { id: message.id, ok: true, prepared },
      prepared.crops.map((c) => c.buffer as ArrayBuffer),
    );
  } catch (error) {
    const e = error instanceof EncoderError ? error : undefined;
    port.postMessage({
      id: message.id,
      ok: false,
      error: e
        ? { status: e.status, code: e.code, message: e.message }
        : {
            status: 500,
            code: 'internal_error',
            message: error instanceof Error ? error.message : String(error),
          },
    });
  }
});
