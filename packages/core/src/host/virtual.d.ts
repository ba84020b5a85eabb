/** The host runtime's bundled source (see `build/host-runtime.ts`). */
declare module 'virtual:socketserver-host-runtime' {
  const source: string;
  export default source;
}
