/** A HAProxy started by {@link startHAProxy}. */
export interface HAProxy {
  /** Where its frontend listens (127.0.0.1, a free port). */
  address: { host: string; port: number; family: 'IPv4' };
  /** What HAProxy wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when HAProxy has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops HAProxy and removes its configuration. */
  stop(): Promise<void>;
}

/** The haproxy binary's path; throws when it is not installed. */
export function haproxyPath(): string;

/**
 * Starts `haproxy -db` with a `global` and a `defaults` section (mode tcp,
 * timeouts) followed by `sections`, in which the frontend binds `fd@3`: a
 * socket listening on 127.0.0.1, made before HAProxy starts.
 */
export function startHAProxy(sections: string): Promise<HAProxy>;
