/**
 * `HTTPError`: a request that is answered with an error status.
 *
 * @module
 */
import { SocketServerError } from '@socketserver/core';

/**
 * A request to be answered with `status` (an error page through
 * `sendError`): thrown by the head parser for malformed requests, and by
 * handlers (`throw new HTTPError(404, 'No such user')` in a `doGET`) while
 * no response has started. Its `code` is `ERR_SOCKETSERVER_HTTP_ERROR`.
 */
export class HTTPError extends SocketServerError {
  /**
   * @param status - the status to answer with, for example 400.
   * @param message - the error page's message (escaped in the page).
   * @param headers - extra response fields, for example `Allow`.
   */
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super('ERR_SOCKETSERVER_HTTP_ERROR', message);
  }
}
