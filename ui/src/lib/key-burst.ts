/**
 * Keys that come in a burst (a keyboard-wedge scanner, ~2 ms apart) into the box that takes both
 * scans and typed searches. Typing each one into the field costs the browser a text edit, a
 * selection update and a layout, and on a cheap tablet that is what makes a scan slow: 13 digits
 * cost far more than looking the code up and drawing the line. So a printable key that follows the
 * one before within `maxGapMs` (by the keys' own event times: a busy tablet handles queued keys late,
 * but they still arrived together) is held back instead of typed. The held keys go into the field
 * in one edit when the burst ends without Enter (a fast typist) or before any other key; at an
 * Enter the field's owner takes the text with them (a scan) without the field ever showing them.
 *
 * The first key of a burst cannot be told from a person's keystroke: it is typed as usual.
 */
export interface KeyBurstOptions {
  /** Max gap between two keys of one burst. */
  maxGapMs?: number;
  /** The field's text changed because held keys were put into it. */
  onFlush: (value: string) => void;
}

export class KeyBurst {
  readonly #maxGap: number;
  readonly #onFlush: (value: string) => void;
  #held = '';
  #field: HTMLInputElement | null = null;
  #lastKeyAt = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(opts: KeyBurstOptions) {
    this.#maxGap = opts.maxGapMs ?? 50;
    this.#onFlush = opts.onFlush;
  }

  /**
   * A keydown on `field`, before the field's own handling. Returns true when the key was held back
   * (its typing prevented). Any other key but Enter first puts the held keys into the field; at an
   * Enter they stay held for `take`.
   */
  keydown(ev: KeyboardEvent, field: HTMLInputElement): boolean {
    // Shift comes with a scanner's capital letters: part of the burst, not the end of it.
    if (ev.key === 'Shift') return false;
    const gap = ev.timeStamp - this.#lastKeyAt;
    this.#lastKeyAt = ev.timeStamp;
    const printable = ev.key.length === 1 && !ev.ctrlKey && !ev.altKey && !ev.metaKey && !ev.isComposing;
    if (printable && gap <= this.#maxGap) {
      ev.preventDefault();
      this.#held += ev.key;
      this.#field = field;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.flush(), this.#maxGap);
      return true;
    }
    if (ev.key !== 'Enter') this.flush();
    return false;
  }

  /**
   * The field's text as it would be with the held keys typed at its caret; forgets them. The field
   * itself is left as it is (its owner clears or keeps it).
   */
  take(field: HTMLInputElement): string {
    const held = this.#held;
    this.stop();
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    return held ? field.value.slice(0, start) + held + field.value.slice(end) : field.value;
  }

  /** Puts the held keys into the field where its caret is, as typing them would have. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const field = this.#field;
    const held = this.#held;
    this.#held = '';
    this.#field = null;
    if (!field || !held) return;
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    field.setRangeText(held, start, end, 'end');
    this.#onFlush(field.value);
  }

  /** Forgets held keys (the field was cleared or left). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#held = '';
    this.#field = null;
  }
}
