/**
 * The bulk CLI's inputs, read and checked whole before anything is sent: a folder of images
 * (uploads), a list of URLs (signed webhooks) or a JSON Lines file of items (webhooks for URLs
 * and R2 keys, uploads for local files). Any bad line is an InputError naming the file and line;
 * the CLI exits 2 with all of them and sends nothing.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { CollectionSchema, DEFAULT_COLLECTION, ImageIdSchema } from '../../src/core/contract/ids';
import {
  type ImageMetadata,
  ImageMetadataSchema,
  type WebhookEvent,
  WebhookEventSchema,
} from '../../src/core/contract/ingest-schemas';
import { INGEST_LIMITS, LIMITS } from '../../src/core/contract/limits';

/** One image upload (`PUT /v1/images/:id`) of a local file. */
export interface UploadItem {
  kind: 'upload';
  id: string;
  collection: string;
  file: string;
  metadata?: ImageMetadata;
  caption?: string;
  /** Where it came from, for messages: `file:line` or the path. */
  source: string;
}

/** One webhook event (upsert by URL or R2 key, or delete), sent in batches. */
export interface WebhookItem {
  kind: 'webhook';
  id: string;
  collection: string;
  event: WebhookEvent;
  source: string;
}

export type Item = UploadItem | WebhookItem;

export class InputError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length ? `${message}\n${problems.map((p) => `  - ${p}`).join('\n')}` : message);
  }
}

export const IMAGE_EXTENSIONS: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

/** `collection/id`: collections have no `/`, so this names an image uniquely. */
export const itemKey = (item: { collection: string; id: string }) => `${item.collection}/${item.id}`;

export type InputKind = 'folder' | 'urls' | 'jsonl';

export function inputKind(path: string): InputKind {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new InputError(`${path}: no such file or folder`);
  }
  if (st.isDirectory()) return 'folder';
  if (!st.isFile()) throw new InputError(`${path}: not a file or folder`);
  return /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'urls';
}

export interface LoadOptions {
  /** Collection of items that name none (`default` when omitted). */
  collection?: string;
  /** Files to leave out of a folder walk (the state file). */
  ignore?: string[];
}

/** Reads and checks an input (folder, urls.txt or items.jsonl); throws InputError on any problem. */
export function loadInput(path: string, options: LoadOptions = {}): Item[] {
  const collection = options.collection ?? DEFAULT_COLLECTION;
  const checked = CollectionSchema.safeParse(collection);
  if (!checked.success)
    throw new InputError(`--collection ${collection}: ${checked.error.issues[0]?.message}`);
  const kind = inputKind(path);
  const items =
    kind === 'folder'
      ? loadFolder(path, collection, options.ignore ?? [])
      : kind === 'jsonl'
        ? loadJsonl(path, collection)
        : loadUrls(path, collection);
  if (items.length === 0) throw new InputError(`${path}: no images in it`);
  return items;
}

const MAX_PROBLEMS = 20;

function fail(path: string, problems: string[]): never {
  const shown = problems.slice(0, MAX_PROBLEMS);
  if (problems.length > MAX_PROBLEMS) shown.push(`... and ${problems.length - MAX_PROBLEMS} more`);
  throw new InputError(`${path}: ${problems.length} problem(s), nothing was sent`, shown);
}

function checkFile(file: string): string | undefined {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return `${file} is not a file`;
    size = st.size;
  } catch {
    return `${file} does not exist`;
  }
  if (size === 0) return `${file} is empty`;
  if (size > LIMITS.imageBytes)
    return `${file} is ${size} bytes, over the ${LIMITS.imageBytes}-byte image limit`;
  return undefined;
}

/** Image id of a file in a folder: its path below the folder, `/`-separated, without extension; whitespace becomes `_`. */
export function folderImageId(root: string, file: string): string {
  const rel = relative(root, file).split(sep).join('/');
  return rel.slice(0, rel.length - extname(rel).length).replace(/\s/g, '_');
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() && IMAGE_EXTENSIONS[extname(entry.name).toLowerCase()]) out.push(full);
  }
}

function loadFolder(root: string, collection: string, ignore: string[]): Item[] {
  const files: string[] = [];
  walk(root, files);
  const skip = new Set(ignore.map((f) => resolve(f)));
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const items: Item[] = [];
  for (const file of files) {
    if (skip.has(resolve(file))) continue;
    const id = folderImageId(root, file);
    const source = relative(root, file);
    const idCheck = ImageIdSchema.safeParse(id);
    if (!idCheck.success)
      problems.push(`${source}: id ${JSON.stringify(id)}: ${idCheck.error.issues[0]?.message}`);
    const other = seen.get(id);
    if (other) problems.push(`${source}: same id ${JSON.stringify(id)} as ${other}`);
    seen.set(id, source);
    const fileProblem = checkFile(file);
    if (fileProblem) problems.push(fileProblem);
    items.push({ kind: 'upload', id, collection, file, source });
  }
  if (problems.length) fail(root, problems);
  return items;
}

/** Id of a URL listed without one: the hex SHA-256 of the URL. */
export const urlImageId = (url: string) => createHash('sha256').update(url).digest('hex');

function readText(path: string): string {
  const bytes = readFileSync(path);
  const text = new TextDecoder('utf-8').decode(bytes);
  if (text.includes('\u0000')) throw new InputError(`${path}: a binary file, not a list of URLs or items`);
  return text.replace(/^\uFEFF/, '');
}

function issueText(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function loadUrls(path: string, collection: string): Item[] {
  const problems: string[] = [];
  const items: Item[] = [];
  readText(path)
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      const where = `${basename(path)}:${index + 1}`;
      if (!line || line.startsWith('#')) return;
      const tab = raw.indexOf('\t');
      const id = tab >= 0 ? raw.slice(0, tab).trim() : urlImageId(line);
      const url = tab >= 0 ? raw.slice(tab + 1).trim() : line;
      const event = { op: 'upsert' as const, id, collection, image_url: url };
      const parsed = WebhookEventSchema.safeParse(event);
      if (!parsed.success) {
        problems.push(`${where}: ${issueText(parsed.error)}`);
        return;
      }
      items.push({ kind: 'webhook', id, collection, event: parsed.data, source: where });
    });
  if (problems.length) fail(path, problems);
  return items;
}

const JSONL_FIELDS = new Set([
  'op',
  'id',
  'collection',
  'image_url',
  'file',
  'r2_key',
  'metadata',
  'caption',
]);

function loadJsonl(path: string, defaultCollection: string): Item[] {
  const dir = dirname(path);
  const problems: string[] = [];
  const items: Item[] = [];
  readText(path)
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const where = `${basename(path)}:${index + 1}`;
      if (!raw.trim()) return;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch (error) {
        problems.push(`${where}: not JSON (${(error as Error).message})`);
        return;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${where}: each line is one JSON object`);
        return;
      }
      const line = value as Record<string, unknown>;
      const unknown = Object.keys(line).filter((k) => !JSONL_FIELDS.has(k));
      if (unknown.length) {
        problems.push(`${where}: unknown field(s) ${unknown.join(', ')}`);
        return;
      }
      const op = line.op ?? 'upsert';
      const collection = (line.collection as string | undefined) ?? defaultCollection;
      if (op !== 'upsert' && op !== 'delete') {
        problems.push(`${where}: op must be "upsert" or "delete"`);
        return;
      }
      const sources = ['image_url', 'file', 'r2_key'].filter((k) => line[k] !== undefined);
      if (op === 'delete') {
        if (sources.length || line.metadata !== undefined || line.caption !== undefined) {
          problems.push(`${where}: a delete has only id and collection`);
          return;
        }
      } else if (sources.length !== 1) {
        problems.push(`${where}: an item has exactly one of image_url, file or r2_key`);
        return;
      }
      if (op === 'upsert' && line.file !== undefined) {
        const id = ImageIdSchema.safeParse(line.id);
        const coll = CollectionSchema.safeParse(collection);
        const meta = line.metadata === undefined ? undefined : ImageMetadataSchema.safeParse(line.metadata);
        const bad = [
          !id.success && `id: ${id.error.issues[0]?.message}`,
          !coll.success && `collection: ${coll.error.issues[0]?.message}`,
          meta && !meta.success && `metadata: ${issueText(meta.error)}`,
          typeof line.file !== 'string' && 'file: must be a path',
          line.caption !== undefined &&
            (typeof line.caption !== 'string' || line.caption.length > INGEST_LIMITS.captionChars) &&
            `caption: a string of at most ${INGEST_LIMITS.captionChars} characters`,
        ].filter(Boolean);
        if (bad.length) {
          problems.push(`${where}: ${bad.join('; ')}`);
          return;
        }
        const file = resolve(dir, line.file as string);
        const fileProblem = checkFile(file);
        if (fileProblem) {
          problems.push(`${where}: ${fileProblem}`);
          return;
        }
        items.push({
          kind: 'upload',
          id: line.id as string,
          collection,
          file,
          ...(meta?.success ? { metadata: meta.data } : {}),
          ...(line.caption !== undefined ? { caption: line.caption as string } : {}),
          source: where,
        });
        return;
      }
      const parsed = WebhookEventSchema.safeParse({ ...line, op, collection });
      if (!parsed.success) {
        problems.push(`${where}: ${issueText(parsed.error)}`);
        return;
      }
      items.push({ kind: 'webhook', id: parsed.data.id, collection, event: parsed.data, source: where });
    });
  if (problems.length) fail(path, problems);
  return items;
}
