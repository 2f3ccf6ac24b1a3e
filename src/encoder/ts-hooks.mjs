// Lets Node run this repository's TypeScript as is: Node transforms the types away, and this hook
// resolves the extension-less relative imports that tsc (moduleResolution Bundler) wants.
// Usage: node --experimental-transform-types --import ./src/encoder/ts-hooks.mjs src/encoder/main.ts
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (
        error?.code === 'ERR_MODULE_NOT_FOUND' &&
        /^\.{1,2}\//.test(specifier) &&
        !/\.[cm]?[jt]s$/.test(specifier)
      ) {
        return nextResolve(`${specifier}.ts`, context);
      }
      throw error;
    }
  },
});
