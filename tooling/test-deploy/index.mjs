/** Test helpers for the deployment features, on the real tools. */
export { makeCertificates } from './certs.mjs';
export { haproxyPath, startHAProxy } from './haproxy.mjs';
