/** A certificate and its key, as PEM text and as files. */
export interface Identity {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** The certificate's SHA-256 fingerprint, as Node's `getPeerCertificate().fingerprint256` writes it. */
  fingerprint256: string;
}

/** What {@link makeCertificates} makes. */
export interface TestCertificates {
  /** The temporary directory holding every file. */
  dir: string;
  /** The test CA (its certificate only is needed by peers). */
  ca: Identity;
  /** `localhost`, `127.0.0.1` and `::1`, signed by the CA. */
  server: Identity;
  /** The same names, a different certificate: what a renewal installs. */
  renewed: Identity;
  /** `other.test` and `*.wild.test`, signed by the CA (SNI). */
  other: Identity;
  /** A client certificate (`client.test`), signed by the CA. */
  client: Identity;
  /** A client certificate (`stranger.test`) signed by no one the server trusts. */
  stranger: Identity;
  /** Removes the directory. */
  remove(): void;
}

/** Makes a fresh set of certificates with the `openssl` command (P-256 keys, valid one day). */
export function makeCertificates(): TestCertificates;
