/**
 * The image of the Image→Text and Text→Patch panels: an indexed id or a file the user picks.
 * Files travel as a `data:` URL in the JSON body (`image_url`); so do the demo set's PNGs when a
 * route needs the pixels (patches), since the seeded demo index keeps vectors, not originals.
 */
import { fileToDataUrl, imageSrc } from './api';

export interface ImageChoice {
  /** The JSON fields that name the image. */
  fields: { image_id?: string; image_url?: string; collection?: string };
  /** Where the page can show it (showImage): the picked file, or a path. */
  src: string | Blob;
  label: string;
}

export async function chooseImage(
  idInput: HTMLInputElement,
  fileInput: HTMLInputElement,
  collection: string,
  needsPixels: boolean,
): Promise<ImageChoice | undefined> {
  const file = fileInput.files?.[0];
  if (file) {
    return {
      fields: { image_url: await fileToDataUrl(file) },
      src: file,
      label: file.name,
    };
  }
  const id = idInput.value.trim();
  if (!id) return undefined;
  const src = imageSrc(id, collection);
  if (needsPixels && src.startsWith('/demo/')) {
    const res = await fetch(src);
    if (res.ok) return { fields: { image_url: await fileToDataUrl(await res.blob()) }, src, label: id };
  }
  return { fields: { image_id: id, collection }, src, label: id };
}

/** Picking a file clears the id and the other way round, so one image is named at a time. */
export function exclusive(
  idInput: HTMLInputElement,
  fileInput: HTMLInputElement,
  onChange: () => void,
): void {
  idInput.addEventListener('input', () => {
    if (idInput.value) fileInput.value = '';
    onChange();
  });
  fileInput.addEventListener('change', () => {
    if (fileInput.files?.length) idInput.value = '';
    onChange();
  });
}
