/**
 * `Headers`: a request's header fields, by case-insensitive name (the role of
 * Python's `email.message.Message` in `http.server`).
 *
 * @module
 */

/** A request's header fields in arrival order; names compare case-insensitively. */
export class Headers implements Iterable<[string, string]> {
  #fields: Array<[string, string]> = [];
  #byName = new Map<string, string[]>();

  /** Adds a field (name as received, value trimmed by the caller). */
  append(name: string, value: string): void {
    this.#fields.push([name, value]);
    const key = name.toLowerCase();
    const values = this.#byName.get(key);
    if (values) values.push(value);
    else this.#byName.set(key, [value]);
  }

  /** The field's values joined by `, ` (RFC 9110 §5.3), or undefined when absent. */
  get(name: string): string | undefined {
    return this.#byName.get(name.toLowerCase())?.join(', ');
  }

  /** Every value of the field, in order. */
  getAll(name: string): string[] {
    return this.#byName.get(name.toLowerCase()) ?? [];
  }

  /** Whether the field is present. */
  has(name: string): boolean {
    return this.#byName.has(name.toLowerCase());
  }

  /** The field's comma-separated tokens, lowercased (for `Connection`). */
  tokens(name: string): string[] {
    const values = this.#byName.get(name.toLowerCase());
    if (values === undefined) return [];
    return values
      .join(',')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== '');
  }

  /** How many fields were received. */
  get size(): number {
    return this.#fields.length;
  }

  /** The fields as `[name, value]` pairs, in arrival order, names as received. */
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.#fields[Symbol.iterator]();
  }
}
