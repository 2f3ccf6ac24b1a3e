/**
 * Builds the demo page (src/ui) into build/ui, the Worker's static assets (wrangler.toml
 * `[assets]`): the page itself, the API reference at /docs (Swagger UI from the swagger-ui-dist
 * package, no CDN) and the demo set's PNGs at /demo/images/<id>.png, which the page shows for
 * the seeded demo index (uploads are shown from GET /v1/images/{id}/content).
 */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const root = join(import.meta.dirname, '../..');
const outDir = join(root, 'build/ui');

function copyStatic(): Plugin {
  return {
    name: 'koclip-copy-static',
    apply: 'build',
    closeBundle() {
      const swagger = join(root, 'node_modules/swagger-ui-dist');
      mkdirSync(join(outDir, 'docs'), { recursive: true });
      for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css'])
        cpSync(join(swagger, file), join(outDir, 'docs', file));
      cpSync(join(root, 'models/koclip-tiny/demo/images'), join(outDir, 'demo/images'), { recursive: true });
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: join(import.meta.dirname, 'public'),
  build: { outDir, emptyOutDir: true, target: 'es2022', sourcemap: false },
  plugins: [copyStatic()],
});
