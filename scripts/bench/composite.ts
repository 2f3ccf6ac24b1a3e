/**
 * Composite queries on koclip-tiny's demo index: the table of test/edge/search/support/
 * composite-table.ts, judged by the demo labels (precision@10, the `never` labels in the top 10,
 * the share of runs whose first answer is relevant).
 *
 * 1. What the service answers: the local stack (the encoder and `wrangler dev`, scripts/stack),
 *    the demo set seeded through uploads (`seed:demo`), every run of every case sent to
 *    POST /v1/search (the Worker's own int8 text tower in workerd, the fp16 index, the kernel).
 * 2. The alternatives the formula was chosen against (src/edge/search/composite/combine.ts), computed
 *    here: text embeddings of the same int8 tower from the stack's encoder (POST /v1/embed/text,
 *    onnxruntime-node; the empty text too, which /v1/embeddings refuses), the demo image
 *    embeddings, exact fp32 ranking over the 300 images with the query's own images left out.
 *    The first line of that table is the service's formula, as a check that both agree.
 *
 *   npm run bench:composite -- [--out build/bench/composite.json] [--no-alternatives]
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ENCODER_PATHS, TextAnswerSchema } from '../../src/core/contract/encoder-api';
import { dot, normalise } from '../../src/core/vector';
import { combineParts, NEGATIVE_SCALE, NULL_TEXT, TEXT_SCALE } from '../../src/edge/search/composite/combine';
import {
  type CaseFigures,
  type CaseRun,
  COMPOSITE_CASES,
  type CompositeCase,
  caseFigures,
  type Labels,
  meanPrecision,
  NAMED,
  runsOf,
  scoreRun,
} from '../../test/edge/search/support/composite-table';
import { STACK_ENCODER, STACK_SECRETS, STACK_VARS, startStack, TS_RUNNER } from '../stack/index';
import { machine, postJson, ROOT } from './support/common';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'build/bench/composite.json' },
    'no-alternatives': { type: 'boolean', default: false },
  },
});

const pkg = join(ROOT, 'models/koclip-tiny');
const manifest = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')) as {
  id: string;
  version: string;
};
const demo = JSON.parse(readFileSync(join(pkg, 'demo/index.json'), 'utf8')) as {
  dim: number;
  items: { id: string; metadata: Labels }[];
};
const raw = readFileSync(join(pkg, 'demo/embeddings.f32'));
const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const images = new Map(
  demo.items.map((item, i) => [item.id, normalise(all.subarray(i * demo.dim, (i + 1) * demo.dim))]),
);
const labelsOf = (id: string) => demo.items.find((i) => i.id === id)?.metadata as Labels;

interface Table {
  figures: CaseFigures[];
  mean: number;
  /** Issue 22's two cases: a blue circle first for every red circle; no large image in the top 10. */
  named: { blueCircleFirst: number; largeInTop10: number };
}

function table(answers: (c: CompositeCase, run: CaseRun) => string[]): Table {
  const figures = COMPOSITE_CASES.map((c) =>
    caseFigures(
      c,
      runsOf(c, demo.items).map((run) => scoreRun(c, run, answers(c, run), labelsOf, demo.items)),
    ),
  );
  const of = (name: string) => figures.find((f) => f.name === name) as CaseFigures;
  return {
    figures,
    mean: meanPrecision(figures),
    named: {
      blueCircleFirst: of(NAMED.imagePlusText).firstRelevant,
      largeInTop10: of(NAMED.notLarge).violations.max,
    },
  };
}

/** The alternatives: how positives and negatives are turned into one vector. */
type Formula = (parts: {
  positive: { kind: 'text' | 'image'; vector: Float32Array; weight: number }[];
  negative: { vector: Float32Array; weight: number }[];
  nullText: Float32Array;
}) => Float32Array | null;

const centred =
  (textScale: number, negativeScale: number): Formula =>
  (parts) =>
    combineParts(parts, { textScale, negativeScale });

/** Raw embeddings (rclip's arithmetic): normalise(sum w e) - beta * sum v n, texts times `textScale`. */
const rawSum =
  (textScale: number, beta: number): Formula =>
  ({ positive, negative }) => {
    const dim = positive[0]?.vector.length ?? 0;
    const sum = new Float32Array(dim);
    for (const p of positive)
      for (let i = 0; i < dim; i++)
        sum[i] =
          (sum[i] as number) + (p.kind === 'text' ? textScale : 1) * p.weight * (p.vector[i] as number);
    const q = normalise(sum);
    for (const n of negative)
      for (let i = 0; i < dim; i++) q[i] = (q[i] as number) - beta * n.weight * (n.vector[i] as number);
    return normalise(q);
  };

/** Projection removal: the positive query with each negative's direction taken out (never pushed). */
const projection =
  (textScale: number): Formula =>
  ({ positive, negative, nullText }) => {
    let q = rawSum(textScale, 0)({ positive, negative: [], nullText }) as Float32Array;
    for (const n of negative) {
      const u = normalise(n.vector);
      const along = dot(q, u);
      q = normalise(q.map((x, i) => x - along * (u[i] as number)));
    }
    return q;
  };

const ALTERNATIVES: { name: string; formula: Formula }[] = [
  {
    name: `centred-sum, text ${TEXT_SCALE}, negative ${NEGATIVE_SCALE} (the service's)`,
    formula: centred(TEXT_SCALE, NEGATIVE_SCALE),
  },
  ...[1, 2].map((t) => ({
    name: `centred-sum, text ${t}, negative ${NEGATIVE_SCALE}`,
    formula: centred(t, NEGATIVE_SCALE),
  })),
  ...[0.5, 1].map((b) => ({
    name: `centred-sum, text ${TEXT_SCALE}, negative ${b}`,
    formula: centred(TEXT_SCALE, b),
  })),
  ...[0.75, 1, 1.25, 1.5].map((b) => ({ name: `raw sum, text 1, negative ${b}`, formula: rawSum(1, b) })),
  { name: `raw sum, text ${TEXT_SCALE}, negative 1`, formula: rawSum(TEXT_SCALE, 1) },
  { name: 'projection removal, text 1', formula: projection(1) },
  { name: `projection removal, text ${TEXT_SCALE}`, formula: projection(TEXT_SCALE) },
];

const fixed = (x: number, digits = 3) => x.toFixed(digits);
/** A colour negative: what a too strong raw negative loses (the colour's opposite outweighs the shape). */
const COLOUR_NEGATIVE = '원, not 빨간';

function printTable(title: string, t: Table): void {
  console.log(`\n${title}\n`);
  console.log(
    '| case | runs | precision@10 | first answer relevant | `never` labels in top 10 (mean / max) |',
  );
  console.log('|---|---:|---:|---:|---:|');
  for (const [i, f] of t.figures.entries()) {
    const c = COMPOSITE_CASES[i] as CompositeCase;
    console.log(
      `| ${f.name} | ${f.runs} | ${fixed(f.precision)} | ${fixed(f.firstRelevant, 2)} | ${c.never ? `${fixed(f.violations.mean, 2)} / ${f.violations.max}` : ''} |`,
    );
  }
  console.log(
    `| **mean** | | **${fixed(t.mean)}** | | |\n\n` +
      `"${NAMED.imagePlusText}": a blue circle first in ${fixed(t.named.blueCircleFirst, 2)} of the runs; ` +
      `"${NAMED.notLarge}": ${t.named.largeInTop10} large image(s) in the top 10.`,
  );
}

async function main() {
  const m = await machine();
  console.log(
    `${m.cpu}, ${m.cores} cores, load average ${m.load.join(' ')}, ${m.at}; ${manifest.id}@${manifest.version}`,
  );
  const stack = await startStack({ encoder: STACK_ENCODER, worker: { vars: STACK_VARS, logLevel: 'error' } });
  try {
    const seeded = Date.now();
    await promisify(execFile)(
      TS_RUNNER,
      [
        'scripts/seed-demo-index.ts',
        '--url',
        stack.url,
        '--token',
        STACK_SECRETS.ADMIN_TOKEN,
        '--progress',
        'none',
      ],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    console.log(`seeded the demo set in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    // 1. The service.
    const served = new Map<string, string[]>();
    let requests = 0;
    const started = Date.now();
    for (const c of COMPOSITE_CASES) {
      for (const run of runsOf(c, demo.items)) {
        const body = await postJson<{ results: { id: string }[] }>(stack.url, '/v1/search', {
          ...run.body,
          k: 10,
        });
        served.set(
          JSON.stringify(run.body),
          body.results.map((h) => h.id),
        );
        requests++;
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const service = table((_, run) => served.get(JSON.stringify(run.body)) ?? []);
    printTable(
      `POST /v1/search on the local stack (${requests} requests in ${seconds.toFixed(1)} s, sequential):`,
      service,
    );

    // 2. The alternatives, over the same tower's embeddings from the encoder.
    const alternatives: { name: string; mean: number; named: Table['named']; figures: CaseFigures[] }[] = [];
    if (!values['no-alternatives']) {
      const texts = [
        ...new Set([
          NULL_TEXT,
          ...COMPOSITE_CASES.flatMap((c) => [
            ...c.positive.flatMap((p) => ('text' in p ? [p.text] : [])),
            ...(c.negative ?? []).map((n) => n.text),
          ]),
        ]),
      ];
      const embedded = new Map<string, Float32Array>();
      // One text per call: dynamic int8 quantises each batch with its own scale, as the Worker's
      // tower does per query.
      for (const text of texts) {
        const res = await fetch(
          `${stack.encoder.url}${ENCODER_PATHS.text}?model=${manifest.id}&text_variant=int8`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${stack.encoder.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ texts: [text] }),
          },
        );
        if (!res.ok) throw new Error(`encoder text ${res.status}: ${await res.text()}`);
        const answer = TextAnswerSchema.parse(await res.json());
        embedded.set(text, Float32Array.from(answer.data[0]?.embedding ?? []));
      }
      const vectorOf = (text: string) => embedded.get(text) as Float32Array;
      for (const { name, formula } of ALTERNATIVES) {
        const t = table((c, run) => {
          const q = formula({
            positive: run.body.positive.map((p) =>
              'text' in p
                ? { kind: 'text' as const, vector: vectorOf(p.text), weight: p.weight ?? 1 }
                : {
                    kind: 'image' as const,
                    vector: images.get(p.image_id) as Float32Array,
                    weight: p.weight ?? 1,
                  },
            ),
            negative: (c.negative ?? []).map((n) => ({ vector: vectorOf(n.text), weight: n.weight ?? 1 })),
            nullText: vectorOf(NULL_TEXT),
          });
          if (!q) return [];
          return demo.items
            .filter((i) => !run.own.includes(i.id))
            .map((i) => ({ id: i.id, score: dot(q, images.get(i.id) as Float32Array) }))
            .sort((a, b) => b.score - a.score)
            .slice(0, 10)
            .map((s) => s.id);
        });
        alternatives.push({ name, mean: t.mean, named: t.named, figures: t.figures });
      }
      console.log(
        '\nAlternatives (exact fp32 ranking, text embeddings of the int8 tower from the encoder):\n',
      );
      console.log(
        `| formula | mean precision@10 | blue circle first (share of red circles) | large in top 10 of "빨간 원, not 큰" | precision@10 of "${COLOUR_NEGATIVE}" |`,
      );
      console.log('|---|---:|---:|---:|---:|');
      for (const a of alternatives) {
        const colour = a.figures.find((f) => f.name === COLOUR_NEGATIVE)?.precision ?? Number.NaN;
        console.log(
          `| ${a.name} | ${fixed(a.mean)} | ${fixed(a.named.blueCircleFirst, 2)} | ${a.named.largeInTop10} | ${fixed(colour)} |`,
        );
      }
    }

    const out = join(ROOT, values.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify({ machine: m, model: manifest, service: { ...service, requests, seconds }, alternatives }, null, 2)}\n`,
    );
    console.log(`\nwrote ${values.out}`);
  } finally {
    await stack.stop();
  }
}

await main();
