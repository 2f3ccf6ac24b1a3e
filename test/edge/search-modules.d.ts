// Binary fixtures imported through wrangler's Data rule (wrangler.toml [[rules]]): ArrayBuffers.
declare module '*.f32' {
  const bytes: ArrayBuffer;
  export default bytes;
}

declare module '*.png' {
  const bytes: ArrayBuffer;
  export default bytes;
}
