/**
 * GET /docs: a self-contained page that reads /openapi.json and renders every operation with
 * its parameters, request body and responses (schemas shown as JSON), plus a "try it" form for
 * JSON requests. No external scripts or styles.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>KoCLIP edge API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem 1.5rem;color:#222}
h1{margin-bottom:.2rem}details{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600}.m{display:inline-block;min-width:4.2rem;font-family:monospace;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.put{color:#ef6c00}.delete{color:#c62828}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:13px;border-radius:4px}
textarea{width:100%;min-height:7rem;font-family:monospace}button{margin:.3rem 0}
</style></head><body>
<h1 id="title">KoCLIP edge API</h1><p id="desc"></p><p><a href="/openapi.json">openapi.json</a></p>
<div id="ops">Loading…</div>
<script>
const el = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k); return e; };
const json = (v) => el('pre', {}, JSON.stringify(v, null, 2));
function resolve(doc, s) { return s && s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s; }
function operation(doc, path, method, op) {
  const box = el('details', {}, el('summary', {}, el('span', { class: 'm ' + method }, method), ' ' + path + ' — ' + (op.summary || '')));
  if (op.parameters && op.parameters.length) box.append(el('h4', {}, 'Parameters'), json(op.parameters.map((p) => ({ in: p.in, name: p.name, required: !!p.required, schema: p.schema }))));
  const body = op.requestBody && op.requestBody.content;
  let form;
  if (body) {
    box.append(el('h4', {}, 'Request body'));
    for (const [type, media] of Object.entries(body)) box.append(el('div', {}, type), json(resolve(doc, media.schema)));
    if (body['application/json']) {
      form = el('textarea', {}, method === 'post' && path === '/v1/embeddings' ? '{"input": ["빨간 원"]}' : '{}');
    }
  }
  box.append(el('h4', {}, 'Responses'));
  for (const [status, r] of Object.entries(op.responses || {})) {
    const media = r.content && Object.values(r.content)[0];
    box.append(el('div', {}, status + ' ' + (r.description || '')), media ? json(resolve(doc, media.schema)) : '');
  }
  if (!path.includes('{') && (method === 'get' || form)) {
    const out = el('pre', {}, '');
    const run = el('button', {}, 'Try it');
    run.onclick = async () => {
      const init = { method: method.toUpperCase() };
      if (form) { init.body = form.value; init.headers = { 'content-type': 'application/json' }; }
      const res = await fetch(path, init);
      out.textContent = res.status + '\\n' + (await res.text()).slice(0, 4000);
    };
    box.append(el('h4', {}, 'Try it'), form || '', run, out);
  }
  return box;
}
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  document.getElementById('desc').textContent = doc.info.description || '';
  const ops = document.getElementById('ops'); ops.textContent = '';
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) ops.append(operation(doc, path, method, op));
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>`;

const app = new OpenAPIHono<AppEnv>();

app.get('/docs', (c) => {
  c.header('Cache-Control', 'public, max-age=300');
  return c.html(PAGE);
});

export default app;
