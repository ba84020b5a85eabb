/**
 * A log-bucketed latency histogram (2 % resolution from 1 µs to hours) that
 * generator processes fill and the orchestrator merges by adding buckets.
 *
 * @module
 */

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Number of buckets: 1.02^1200 µs is far beyond any bounded run. */
export const BUCKETS = 1200;

/** The bucket of a latency in microseconds. */
export function bucketOf(micros: number): number {
  if (!(micros >= 1)) return 0;
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(micros) / LOG_GROWTH));
}

/** A representative latency (µs) of a bucket: its geometric middle. */
export function bucketValue(bucket: number): number {
  if (bucket === 0) return 0.5;
  return GROWTH ** (bucket - 1) * Math.sqrt(GROWTH);
}

/** A latency histogram; `counts` is plain numbers so it survives JSON. */
export class Histogram {
  counts: number[] = new Array(BUCKETS).fill(0);
  total = 0;
  maxMicros = 0;

  /** Records one latency in microseconds. */
  record(micros: number): void {
    this.counts[bucketOf(micros)]!++;
    this.total++;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  /** Adds another histogram's counts (one generator process each). */
  merge(other: { counts: number[]; total: number; maxMicros: number }): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i] ?? 0;
    this.total += other.total;
    this.maxMicros = Math.max(this.maxMicros, other.maxMicros);
  }

  /** The latency (µs) at quantile `q` (0..1), or NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketValue(i), this.maxMicros);
    }
    return this.maxMicros;
  }

  /** A JSON form (only non-empty buckets are kept). */
  toJSON(): { counts: number[]; total: number; maxMicros: number } {
    return { counts: this.counts, total: this.total, maxMicros: this.maxMicros };
  }
}
