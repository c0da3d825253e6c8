/**
 * A section's figures, fetched again on each refresh: the latest request wins, so an answer that
 * comes back after a newer request was made (a refresh after a recompute, another product picked)
 * never puts older figures back, and its error never hides newer ones.
 */
export class LatestAnswer<T> {
  value = $state.raw<T | null>(null);
  error = $state<unknown>(null);
  /** What the request under way was asked for ('load', 'recompute'…), null when none is. */
  busyWith = $state<string | null>(null);
  #seq = 0;

  /** An answer on its way no longer counts (the list was changed here since it was asked for). */
  forget(): void {
    this.#seq += 1;
    this.busyWith = null;
  }

  get busy(): boolean {
    return this.busyWith !== null;
  }

  /** The answer when it is still the latest request's, else undefined (also on an error). */
  async run(fetch: () => Promise<T>, kind = 'load'): Promise<T | undefined> {
    const mine = ++this.#seq;
    this.busyWith = kind;
    try {
      const answer = await fetch();
      if (mine !== this.#seq) return undefined;
      this.value = answer;
      this.error = null;
      return answer;
    } catch (e) {
      if (mine === this.#seq) this.error = e;
      return undefined;
    } finally {
      if (mine === this.#seq) this.busyWith = null;
    }
  }
}
