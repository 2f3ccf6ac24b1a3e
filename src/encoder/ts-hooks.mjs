// Lets Node run this repository's TypeScript as is: Node transforms the types away, and this hook
// resolves the extension-less relative imports that tsc (moduleResolution Bundler) wants: `./x`
// is `./x.ts`, or a folder's face `./x/index.ts`.
// Usage: node --experimental-transform-types --import ./src/encoder/ts-hooks.mjs src/encoder/main.ts
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (
        (error?.code === 'ERR_MODULE_NOT_FOUND' || error?.code === 'ERR_UNSUPPORTED_DIR_IMPORT') &&
        /^\.{1,2}\//.test(specifier) &&
        !/\.[cm]?[jt]s$/.test(specifier)
      ) {
        try {
          return nextResolve(`${specifier}.ts`, context);
        } catch (again) {
          if (again?.code !== 'ERR_MODULE_NOT_FOUND') throw again;
          return nextResolve(`${specifier}/index.ts`, context);
        }
      }
      throw error;
    }
  },
});
