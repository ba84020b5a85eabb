/**
 * Test certificates, made by the `openssl` command at test time (never
 * committed): a CA, a server certificate for the loopback names, a renewed
 * one, one for SNI names, a client certificate signed by the CA, and one
 * signed by no one. P-256 keys: quick to make and to use.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function identity(dir, name) {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  const cert = readFileSync(certFile, 'utf8');
  return {
    cert,
    key: readFileSync(keyFile, 'utf8'),
    certFile,
    keyFile,
    fingerprint256: new X509Certificate(cert).fingerprint256,
  };
}

function newKey(dir, name) {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`], dir);
}

function selfSigned(dir, name, subject, extensions) {
  newKey(dir, name);
  const ext = `${name}.ext`;
  writeFileSync(join(dir, ext), `[v3]\n${extensions.join('\n')}\n`);
  openssl(
    [
      'req',
      '-new',
      '-x509',
      '-key',
      `${name}-key.pem`,
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-subj',
      subject,
      '-config',
      ext,
      '-extensions',
      'v3',
    ],
    dir,
  );
  return identity(dir, name);
}

function signed(dir, name, subject, extensions) {
  newKey(dir, name);
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(['req', '-new', '-key', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
  return identity(dir, name);
}

const LOOPBACK = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1';
const SERVER = ['basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth'];

export function makeCertificates() {
  const dir = mkdtempSync(join(tmpdir(), 'socketserver-certs-'));
  const ca = selfSigned(dir, 'ca', '/CN=socketserver test CA', [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier=hash',
  ]);
  return {
    dir,
    ca,
    server: signed(dir, 'server', '/CN=localhost', [...SERVER, LOOPBACK]),
    renewed: signed(dir, 'renewed', '/CN=localhost', [...SERVER, LOOPBACK]),
    other: signed(dir, 'other', '/CN=other.test', [
      ...SERVER,
      'subjectAltName=DNS:other.test,DNS:*.wild.test',
    ]),
    client: signed(dir, 'client', '/CN=client.test', [
      'basicConstraints=CA:FALSE',
      'extendedKeyUsage=clientAuth',
    ]),
    stranger: selfSigned(dir, 'stranger', '/CN=stranger.test', [
      'basicConstraints=CA:FALSE',
      'extendedKeyUsage=clientAuth',
    ]),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
