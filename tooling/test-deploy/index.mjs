/** Test helpers for the deployment features, on the real tools. */

export {
  activate,
  fakeNotifySocket,
  freePort,
  socketActivatePath,
  systemdSocketActivate,
} from './activation.mjs';
export { makeCertificates } from './certs.mjs';
export { haproxyPath, startHAProxy } from './haproxy.mjs';
