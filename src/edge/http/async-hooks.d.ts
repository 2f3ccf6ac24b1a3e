// The part of node:async_hooks the Worker uses (workerd's `nodejs_als` flag, wrangler.toml); the
// Worker's tsconfig has Workers types only, not Node's.
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}
