/**
 * Which peers may send a PROXY header: a list of addresses and CIDR blocks,
 * matched with Node's own `net.BlockList` (an IPv4 block also matches the
 * IPv4-mapped IPv6 form a dual-stack server reports, `::ffff:a.b.c.d`).
 *
 * @module
 */
import { BlockList, isIP } from 'node:net';
import { InvalidArgumentError } from './errors.js';
import type { Address } from './types.js';

/** Loopback, IPv4 and IPv6: the default list of trusted PROXY header sources. */
export const LOOPBACK_SOURCES: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

/** How many peer addresses {@link TrustedSources} remembers the answer for. */
const REMEMBERED = 1024;

/** A parsed list of trusted sources. */
export class TrustedSources {
  readonly #list = new BlockList();
  /**
   * Answers by host, remembered: `BlockList.check` builds and validates a
   * `SocketAddress` per call, which cost a PROXY connection more CPU than
   * reading its header, and the peers behind a balancer are a handful.
   */
  readonly #answers = new Map<string, boolean>();
  /** The list as given. */
  readonly sources: readonly string[];

  /**
   * @param sources - addresses (`10.0.0.7`, `::1`) and CIDR blocks (`10.0.0.0/8`, `fd00::/8`).
   * @throws InvalidArgumentError for an entry that is neither.
   */
  constructor(sources: readonly string[]) {
    if (!Array.isArray(sources)) {
      throw new InvalidArgumentError(
        'trusted PROXY sources must be an array of addresses or CIDR blocks',
      );
    }
    this.sources = Object.freeze([...sources]);
    for (const source of sources) this.#add(source);
  }

  /**
   * Whether `address` may send a PROXY header. A Unix socket peer (a string
   * address) is always trusted: who may connect is decided by the socket
   * file's permissions, and a Unix peer has no address to match.
   */
  trusts(address: Address): boolean {
    if (typeof address === 'string') return true;
    const known = this.#answers.get(address.host);
    if (known !== undefined) return known;
    const family = isIP(address.host);
    const answer = family !== 0 && this.#list.check(address.host, family === 4 ? 'ipv4' : 'ipv6');
    if (this.#answers.size >= REMEMBERED) this.#answers.clear();
    this.#answers.set(address.host, answer);
    return answer;
  }

  #add(source: string): void {
    const [host = '', prefix, extra] = String(source).trim().split('/');
    const family = isIP(host);
    const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(String(bits)) || bits > max) {
      throw new InvalidArgumentError(
        `not an address or CIDR block: ${JSON.stringify(source)} (examples: 10.0.0.0/8, 192.0.2.7, fd00::/8, ::1)`,
      );
    }
    this.#list.addSubnet(host, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
}
