/** A clock the test moves by hand (for PIN back-off, lock-outs, business days). */
export class FakeClock {
  private nowMs: number;

  constructor(start: string | Date) {
    this.nowMs = new Date(start).getTime();
  }

  /** Pass this to startTestHub({ clock }). */
  readonly now = (): Date => new Date(this.nowMs);

  advance(ms: number): void {
    this.nowMs += ms;
  }

  set(at: string | Date): void {
    this.nowMs = new Date(at).getTime();
  }
}
