/**
 * A list's delete, asked twice: which row is asking "delete?", whether a delete is under way and
 * what went wrong with the last one. One per list, handed to each row's RowDelete.
 */
export class RowDeletion {
  /** The id of the row showing its question, if any. */
  confirming = $state<string | null>(null);
  busy = $state(false);
  error = $state<unknown>(null);

  ask(id: string): void {
    this.confirming = id;
    this.error = null;
  }

  cancel(): void {
    this.confirming = null;
  }

  /** Runs the delete; the question closes when it is done, stays open (with the error) when not. */
  async run(remove: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      await remove();
      this.confirming = null;
    } catch (e) {
      this.error = e;
    } finally {
      this.busy = false;
    }
  }
}
