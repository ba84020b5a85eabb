/**
 * What every host runs: the host runtime, bundled at build time into one
 * script carried here as a string, and a small bootstrap that compiles it.
 * Nothing is looked up on disk when a host starts, so an app bundled with
 * esbuild or tsup starts its workers and children the same way; a child
 * process's command line shows only the bootstrap.
 *
 * @module
 */
import runtime from 'virtual:socketserver-host-runtime';

/** The host runtime's source (CommonJS, built from `src/host/runtime/`). */
export const HOST_RUNTIME: string = runtime;

/**
 * The bootstrap, CommonJS code run by a worker thread (`eval`) or a child
 * process (`node -e`). It receives the runtime's source and the boot data
 * (a thread in `workerData`, a child as its first IPC message), compiles the
 * runtime under the name `socketserver-host.js` (which stack traces show),
 * and starts it with an `import()` of its own: code compiled at run time
 * cannot import by itself.
 */
export const BOOTSTRAP = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const run = ({ source, boot }) => {
  const module = { exports: {} };
  require("node:vm").compileFunction(source, ["exports", "require", "module"], {
    filename: "socketserver-host.js",
  })(module.exports, require, module);
  module.exports.main(boot, (url) => import(url));
};
if (parentPort) run(workerData);
else process.once("message", run);
`;
