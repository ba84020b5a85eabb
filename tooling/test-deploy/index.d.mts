export type { Identity, TestCertificates } from './certs.mjs';
export { makeCertificates } from './certs.mjs';
export type { HAProxy } from './haproxy.mjs';
export { haproxyPath, startHAProxy } from './haproxy.mjs';
