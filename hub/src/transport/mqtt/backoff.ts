/** Reconnect delays: doubling from `minMs` up to `maxMs`, with up to 20 % random jitter. */
export class Backoff {
  private attempts = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt; each call doubles the following one. */
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempts, 30));
    this.attempts += 1;
    return Math.round(Math.min(this.maxMs, base * (1 + 0.2 * this.random())));
  }

  reset(): void {
    this.attempts = 0;
  }
}
