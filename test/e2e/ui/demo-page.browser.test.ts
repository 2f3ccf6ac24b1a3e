/**
 * The demo page in real headless Chromium against the running stack (wrangler dev serving the
 * built page and the API, the real encoder behind a switchable proxy, the seeded demo index):
 * search, scoring with its cache, patches, uploads, error states, the API reference, an
 * axe-core accessibility check, and the page against a second Worker in AUTH_MODE=keys (a saved
 * API key sent with every call and the Worker's images loaded with it). Screenshots land in
 * test-artifacts/ui/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STACK_VARS, startWorker } from '../../../scripts/stack/index';
import type { CreatedKey } from '../../../src/core/contract/key-schemas';
import { adminHeaders, status } from '../support/indexing-stack';
import { ARTIFACTS, ROOT, STACK_SECRETS, startUiStack, type UiStack } from './support/stack';

const demo = JSON.parse(readFileSync(join(ROOT, 'models/koclip-tiny/demo/index.json'), 'utf8')) as {
  items: { id: string; file: string; metadata: { colour: string; shape: string; count: number } }[];
};
const meta = new Map(demo.items.map((i) => [i.id, i.metadata]));
const redCircle = demo.items.find((i) => i.metadata.colour === 'red' && i.metadata.shape === 'circle');
/**
 * The page's globals as the callbacks that run in the browser use them: this file is type-checked
 * with Node's types (src/encoder/tsconfig.json), so the DOM is declared here, for this file only.
 */
// biome-ignore lint/suspicious/noExplicitAny: browser-side values, checked by the assertions
type BrowserNode = any;
declare const document: {
  querySelector(selector: string): BrowserNode;
  querySelectorAll(selector: string): BrowserNode[] & { length: number };
  activeElement: { id: string } | null;
  documentElement: { scrollWidth: number };
};
declare const window: {
  innerWidth: number;
  axe: { run: (c: unknown, o: unknown) => Promise<{ violations: unknown[] }> };
};

const axeSource = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

let stack: UiStack;
const pages: Page[] = [];

beforeAll(async () => {
  stack = await startUiStack();
  // The first text query of a fresh isolate compiles the text tower's wasm (seconds); "within
  // 2 s of typing" is about a running service, so warm it once.
  await fetch(`${stack.base}/v1/search?q=${encodeURIComponent('원')}&k=1`);
}, 900_000);

afterAll(async () => {
  await stack?.stop();
});

afterEach(async () => {
  stack?.encoderProxy.setDown(false);
  for (const p of pages.splice(0)) await p.close();
});

async function open(hash = '', viewport = { width: 1280, height: 900 }, base = stack.base): Promise<Page> {
  const context = await stack.browser.newContext({ viewport, locale: 'ko-KR' });
  const page = await context.newPage();
  pages.push(page);
  await page.goto(`${base}/${hash}`);
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function axe(page: Page): Promise<{ id: string; help: string; nodes: { target: string[] }[] }[]> {
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations as { id: string; help: string; nodes: { target: string[] }[] }[];
  });
}

const resultIds = (page: Page) =>
  page.$$eval('#results li.card', (cards) => cards.map((c) => (c as BrowserNode).dataset.id ?? ''));

describe('demo page (headless Chromium, wrangler dev, real encoder)', () => {
  it('answers the Korean partial query "빨간 원" with red circles within 2 s of typing', async () => {
    const page = await open();
    await page.fill('#q', '');
    await page.type('#q', '빨간 원');
    const typed = Date.now();
    await page.waitForSelector('#results li.card');
    expect(Date.now() - typed).toBeLessThan(2000);
    const ids = (await resultIds(page)).slice(0, 5);
    expect(ids.length).toBe(5);
    for (const id of ids) expect(meta.get(id)).toMatchObject({ colour: 'red', shape: 'circle' });
    // Scores are shown, and the images load from the Worker's assets.
    expect(await page.textContent('#results li.card .score')).toMatch(/0\.\d{3}/);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#results img')].slice(0, 5).every((i) => i.naturalWidth > 0),
    );
    await shot(page, 'search');
  });

  it('shows the asked count first for a count query typed as people type it', async () => {
    // koclip-tiny's text tower knows everyday counters (두 개, 2개, 둘), colour and shape words.
    const page = await open();
    for (const [text, count] of [
      ['초록색 세모 두 개', 2],
      ['핑크 마름모 3개', 3],
    ] as const) {
      const answered = page.waitForResponse(
        (r) => r.url().includes('/v1/search?') && new URL(r.url()).searchParams.get('q') === text,
      );
      await page.fill('#q', text);
      await page.click('#search-form button[type=submit]');
      const top = ((await (await answered).json()) as { results: { id: string }[] }).results[0]?.id;
      await page.waitForFunction(
        (id) => document.querySelector('#results li.card')?.getAttribute('data-id') === id,
        top,
      );
      expect(meta.get(top as string)).toMatchObject({ count });
    }
  });

  it('pages with "more", filters, and finds images like a result', async () => {
    const page = await open();
    await page.fill('#q', '원');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector('#results li.card');
    const first = (await resultIds(page)).length;
    await page.click('#more');
    await page.waitForFunction((n) => document.querySelectorAll('#results li.card').length > n, first);
    await page.click('#search-form summary');
    await page.selectOption('#filter-colour', 'blue');
    await page.waitForFunction(() => {
      const cards = document.querySelectorAll('#results li.card');
      return cards.length > 0 && document.querySelector('#search-status')?.textContent?.includes('결과');
    });
    for (const id of await resultIds(page)) expect(meta.get(id)?.colour).toBe('blue');
    await page.selectOption('#filter-colour', '');
    await page.fill('#min-score', '0.99');
    await page.dispatchEvent('#min-score', 'change');
    await page.waitForSelector('#search-status[data-kind="empty"]');
    await page.fill('#min-score', '');
    await page.dispatchEvent('#min-score', 'change');
    await page.waitForSelector('#results li.card');
    const source = (await resultIds(page))[0] as string;
    await page.click(`#results li.card[data-id="${source}"] button:has-text("More like this")`);
    await page.waitForSelector('#search-query:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#search-status')?.textContent?.includes('결과'));
    const similar = await resultIds(page);
    expect(similar).not.toContain(source);
    expect(meta.get(similar[0] as string)?.shape).toBe(meta.get(source)?.shape);
    await shot(page, 'more-like-this');
  });

  it('"More like this, but…" searches a result\'s image with a text and shows how the query was built', async () => {
    const page = await open();
    await page.fill('#q', '빨간 원');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector('#results li.card');
    // A red circle of the demo set (not an upload of another test).
    const source = (await resultIds(page)).find(
      (id) => meta.get(id)?.colour === 'red' && meta.get(id)?.shape === 'circle',
    ) as string;
    const card = `#results li.card[data-id="${source}"]`;
    expect(await page.isVisible(`${card} .but-form`)).toBe(false);
    await page.click(`${card} button:has-text("Like this, but")`);
    expect(await page.getAttribute(`${card} button:has-text("Like this, but")`, 'aria-expanded')).toBe(
      'true',
    );
    // The opened form passes axe too.
    expect(await axe(page)).toEqual([]);
    await page.fill(`${card} .but-form input[name="but"]`, '파란');
    const posted = (more: boolean) =>
      page.waitForResponse(
        (r) =>
          r.url().endsWith('/v1/search') &&
          r.request().method() === 'POST' &&
          'cursor' in (r.request().postDataJSON() as object) === more,
      );
    const answered = posted(false);
    await page.click(`${card} .but-form button[type="submit"]`);
    const body = (await (await answered).json()) as {
      query: { kind: string; positive: unknown[] };
      results: { id: string }[];
    };
    expect(body.query).toMatchObject({
      kind: 'composite',
      positive: [
        { kind: 'image_id', id: source, weight: 1 },
        { kind: 'text', text: '파란', weight: 1 },
      ],
    });
    const first = body.results[0]?.id as string;
    await page.waitForFunction(
      (id) => document.querySelector('#results li.card')?.getAttribute('data-id') === id,
      first,
    );
    // This red circle, but blue: blue images first, never the image itself (how well the shape
    // is kept is the Worker test's table: test/edge/search/composite.routes.test.ts).
    for (const id of (await resultIds(page)).slice(0, 5)) expect(meta.get(id)?.colour).toBe('blue');
    expect(await resultIds(page)).not.toContain(source);
    const line = (await page.textContent('#search-query')) ?? '';
    expect(line).toContain('Composite query');
    expect(line).toContain(source);
    expect(line).toContain('"파란" ×1');
    expect(line).toContain('centred-sum');
    // "More" continues the composite (the same POST with its cursor).
    const shown = (await resultIds(page)).length;
    const paged = posted(true);
    await page.click('#more');
    expect((await paged).status()).toBe(200);
    await page.waitForFunction((n) => document.querySelectorAll('#results li.card').length > n, shown);
    await shot(page, 'more-like-this-but');
    // A text to avoid goes in as a negative part.
    const next = `#results li.card[data-id="${first}"]`;
    await page.click(`${next} button:has-text("Like this, but")`);
    await page.fill(`${next} .but-form input[name="but"]`, '작은');
    await page.fill(`${next} .but-form input[name="not"]`, '빨간');
    const negated = posted(false);
    await page.click(`${next} .but-form button[type="submit"]`);
    expect(((await (await negated).json()) as { query: unknown }).query).toMatchObject({
      positive: [{ id: first }, { text: '작은' }],
      negative: [{ kind: 'text', text: '빨간', weight: 1 }],
    });
    await page.waitForFunction(() =>
      document.querySelector('#search-query')?.textContent?.includes('− "빨간" ×1'),
    );
  });

  it('scores captions as a bar chart, and a repeated score is a cache hit', async () => {
    const page = await open('#score');
    await page.fill('#score-image-id', redCircle?.id as string);
    await page.fill('#captions', ['빨간 원', '파란 별', '초록색 세모', `ui ${Date.now()}`].join('\n'));
    await page.click('#score-form button[type=submit]');
    await page.waitForSelector('#cache-badge[data-cache]');
    expect(await page.textContent('#cache-badge')).toContain('MISS');
    expect(await page.$$eval('#score-table tr', (r) => r.length)).toBe(4);
    expect(await page.textContent('#score-table tr.best td')).toBe('빨간 원');
    // The chart drew: the canvas has non-blank pixels.
    const painted = await page.$eval('#score-chart', (c) => {
      const canvas = c as BrowserNode;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if ((data[i] as number) > 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(500);
    await page.click('#score-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#cache-badge')?.textContent?.includes('HIT'));
    await shot(page, 'score');
  });

  it('renders the patch grid over the image, the best cell marked', async () => {
    const page = await open('#patches');
    await page.fill('#patches-image-id', redCircle?.id as string);
    await page.fill('#patches-text', '빨간 원');
    await page.selectOption('#patches-rows', '3');
    await page.selectOption('#patches-cols', '4');
    await page.click('#patches-form button[type=submit]');
    await page.waitForSelector('#patches-grid .cell');
    expect(await page.$$eval('#patches-grid .cell', (c) => c.length)).toBe(12);
    expect(await page.$$eval('#patches-grid .cell.best', (c) => c.length)).toBe(1);
    await page.waitForFunction(() => document.querySelector('#patches-image').naturalWidth > 0);
    await shot(page, 'patches');
  });

  it('uploads an image with the admin token; it goes pending -> indexed and is found by search', async () => {
    const page = await open('#add');
    await page.fill('#admin-token', STACK_SECRETS.ADMIN_TOKEN);
    await page.click('#token-form button[type=submit]');
    const png = readFileSync(join(ROOT, 'models/koclip-tiny', redCircle?.file as string));
    const name = `ui-red-circle-${Date.now()}.png`;
    await page.setInputFiles('#upload-files', { name, mimeType: 'image/png', buffer: png });
    await page.fill('#upload-caption', '업로드한 빨간 원');
    await page.click('#upload-form button[type=submit]');
    const id = `upload-${name.replace('.png', '')}`;
    await page.waitForSelector(`#uploads tr[data-id="${id}"] td.state[data-state="indexed"]`, {
      timeout: 60_000,
    });
    await page.waitForSelector('#st-index:has-text("indexed")');
    await shot(page, 'upload');
    await page.click(`#uploads tr[data-id="${id}"] button`);
    await page.waitForFunction(() => document.querySelector('#search-status')?.textContent?.includes('결과'));
    // Its own twin (the demo image it was copied from) comes first when searching by it.
    expect((await resultIds(page))[0]).toBe(redCircle?.id);
    await page.$eval('#search-form details', (d) => {
      (d as BrowserNode).open = true;
    });
    await page.selectOption('#k', '48');
    await page.fill('#q', '빨간 원');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector(`#results li.card[data-id="${id}"]`);
    // Its original is shown from the Worker (GET /v1/images/{id}/content).
    await page.waitForFunction(
      (i) => document.querySelector(`#results li.card[data-id="${i}"] img`).naturalWidth > 0,
      id,
    );
  }, 120_000);

  it('shows a wrong admin token and an encoder that is down to the user', async () => {
    const page = await open('#add');
    await page.fill('#admin-token', 'not-the-token');
    await page.click('#token-form button[type=submit]');
    await page.setInputFiles('#upload-files', {
      name: 'x.png',
      mimeType: 'image/png',
      buffer: readFileSync(join(ROOT, 'models/koclip-tiny', redCircle?.file as string)),
    });
    await page.click('#upload-form button[type=submit]');
    await page.waitForSelector('#upload-status[role="alert"]');
    expect(await page.textContent('#uploads')).toContain('unauthorized');
    // The footer's counts are refreshed after the token is saved (GET /healthz, then the stats),
    // which can finish after the upload's 401: wait for it rather than read it once.
    await page.waitForFunction(() =>
      document.querySelector('#st-index')?.textContent?.includes('unauthorized'),
    );
    expect(await page.textContent('#st-index')).toContain('unauthorized');
    // A saved credential goes with every call, so a wrong one fails search too; clear it.
    await page.click('#tab-search');
    await page.fill('#q', '빨간 원');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector('#search-status[role="alert"]');
    expect(await page.textContent('#search-status')).toContain('unauthorized');
    await page.click('#tab-add');
    await page.click('#token-clear');

    stack.encoderProxy.setDown(true);
    await page.click('#tab-score');
    await page.setInputFiles('#score-file', {
      name: 'y.png',
      mimeType: 'image/png',
      buffer: readFileSync(join(ROOT, 'models/koclip-tiny/demo/images/demo-0007.png')),
    });
    await page.click('#score-form button[type=submit]');
    await page.waitForSelector('#score-status[role="alert"]');
    expect(await page.textContent('#score-status')).toContain('encoder_unreachable');
    await page.click('#status-refresh');
    await page.waitForSelector('#st-encoder[data-state="unreachable"]');
    await shot(page, 'encoder-down');
  });

  it("serves the API reference (Swagger UI from the Worker's assets) at /docs", async () => {
    const page = await open();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(stack.base)) external.push(r.url());
    });
    await page.goto(`${stack.base}/docs`);
    await page.waitForSelector('.swagger-ui .opblock', { timeout: 30_000 });
    expect(await page.$$eval('.swagger-ui .opblock', (o) => o.length)).toBeGreaterThan(10);
    expect(external).toEqual([]);
    await shot(page, 'docs');
  });

  it('passes axe (WCAG 2.1 A/AA) on every panel, on a desktop and a phone-sized screen', async () => {
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const page = await open('', viewport);
      await page.fill('#q', '파란 별');
      await page.click('#search-form button[type=submit]');
      await page.waitForSelector('#results li.card');
      expect(await axe(page)).toEqual([]);
      for (const tab of ['score', 'patches', 'add']) {
        await page.click(`#tab-${tab}`);
        expect(await axe(page), tab).toEqual([]);
      }
      // Keyboard: arrow keys move between the tabs.
      await page.focus('#tab-add');
      await page.keyboard.press('ArrowRight');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('tab-search');
      if (viewport.width < 500) {
        await page.click('#tab-search');
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow).toBeLessThanOrEqual(0);
        await shot(page, 'phone');
      }
    }
  });

  it('in AUTH_MODE=keys, sends a saved search key with every call and loads the Worker’s images with it', async () => {
    // A second Worker (own state) in keys mode, through the same encoder; one upload to find.
    const keysWorker = await startWorker({
      vars: { ...STACK_VARS, ENCODER_URL: stack.encoderProxy.url, AUTH_MODE: 'keys' },
      logLevel: 'warn',
    });
    try {
      const base = keysWorker.url;
      const png = readFileSync(join(ROOT, 'models/koclip-tiny', redCircle?.file as string));
      const put = await fetch(`${base}/v1/images/keys-red`, {
        method: 'PUT',
        headers: { ...adminHeaders, 'content-type': 'image/png' },
        body: png,
      });
      expect(put.status, await put.clone().text()).toBe(202);
      const deadline = Date.now() + 60_000;
      while ((await status(base, 'default', 'keys-red')).body?.state !== 'indexed') {
        if (Date.now() > deadline) throw new Error('keys-red was not indexed in time');
        await new Promise((r) => setTimeout(r, 250));
      }
      const created = await fetch(`${base}/v1/keys`, {
        method: 'POST',
        headers: { ...adminHeaders, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'demo page', scopes: ['search'] }),
      });
      expect(created.status).toBe(201);
      const { key } = (await created.json()) as CreatedKey;

      const page = await open('', undefined, base);
      await page.fill('#q', '빨간 원');
      await page.click('#search-form button[type=submit]');
      await page.waitForSelector('#search-status[role="alert"]');
      expect(await page.textContent('#search-status')).toContain('unauthorized');

      await page.click('#tab-add');
      await page.fill('#admin-token', key);
      await page.click('#token-form button[type=submit]');
      await page.click('#tab-search');
      await page.click('#search-form button[type=submit]');
      await page.waitForSelector('#results li.card[data-id="keys-red"]');
      // Its original came from GET /v1/images/keys-red/content with the key, as a blob URL.
      await page.waitForFunction(
        () => document.querySelector('#results li.card[data-id="keys-red"] img').naturalWidth > 0,
      );
      expect(
        await page.$eval('#results li.card[data-id="keys-red"] img', (i) => (i as BrowserNode).src as string),
      ).toMatch(/^blob:/);
      // A search key gets no index counts (admin only), and says why.
      await page.waitForFunction(() =>
        document.querySelector('#st-index')?.textContent?.includes('insufficient_scope'),
      );
    } finally {
      await keysWorker.stop();
    }
  }, 120_000);
});
