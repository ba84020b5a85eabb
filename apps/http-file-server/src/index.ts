/**
 * socketserver-http: the command line of @socketserver/http's file server,
 * and `createFileServer`, which builds the server the command runs. This
 * module starts nothing when imported.
 *
 * @module
 */
export type { FileServer, FileServerOptions, ServeMode } from './server.js';
export { createFileServer, FileServerError, SERVE_MODES } from './server.js';
