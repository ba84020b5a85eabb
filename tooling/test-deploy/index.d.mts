export type { FakeNotifySocket, Watched } from './activation.mjs';
export {
  activate,
  fakeNotifySocket,
  freePort,
  socketActivatePath,
  systemdSocketActivate,
} from './activation.mjs';
export type { Identity, TestCertificates } from './certs.mjs';
export { makeCertificates } from './certs.mjs';
export type { HAProxy } from './haproxy.mjs';
export { haproxyPath, startHAProxy } from './haproxy.mjs';
