/**
 * The delivered watermark: the highest seq such that it and every seq before it were acknowledged
 * (PUBACK). Acknowledgements arrive in any order; the watermark moves only over a contiguous prefix.
 * Each seq carries its event's `at`, so the watermark knows where in the journal it stands.
 */
export class AckTracker {
  private readonly acked = new Map<number, string | null>();

  constructor(
    private delivered: number,
    private deliveredAtValue: string | null,
  ) {}

  get deliveredSeq(): number {
    return this.delivered;
  }

  /** `at` of the event `deliveredSeq` (null when unknown). */
  get deliveredAt(): string | null {
    return this.deliveredAtValue;
  }

  /** Records a PUBACK of `seq`; returns how far the watermark moved (0: not at all). */
  ack(seq: number, at: string | null): number {
    if (seq <= this.delivered) return 0;
    this.acked.set(seq, at);
    const before = this.delivered;
    for (let next = this.delivered + 1; this.acked.has(next); next++) {
      this.deliveredAtValue = this.acked.get(next) ?? this.deliveredAtValue;
      this.acked.delete(next);
      this.delivered = next;
    }
    return this.delivered - before;
  }

  /** Seqs the journal does not hold (a corrupt line it skipped): nothing will ever acknowledge them. */
  skip(fromSeq: number, toSeq: number): number {
    let moved = 0;
    for (let seq = fromSeq; seq <= toSeq; seq++) moved += this.ack(seq, null);
    return moved;
  }

  /** Acknowledged seqs above the watermark (a gap below them still waits). */
  get pendingAcks(): number {
    return this.acked.size;
  }
}
