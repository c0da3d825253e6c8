/**
 * The PUBACKs one broker connection owes. Its messages are stored concurrently (many of them in one
 * commit), but each PUBACK goes only once its message is stored, and in the order the messages came
 * (MQTT 5 §4.6: PUBACKs in the order of the PUBLISHes): a stored message waits for the ones before
 * it. A message that could not be stored stops the acknowledging until the connection closes; the
 * broker then sends it, and everything after it, again on the next one.
 */
export interface HeldAck {
  /** Stored: acknowledge it, once every message before it is. */
  ack(): void;
  /** Not stored: acknowledge nothing more on this connection. */
  refuse(): void;
}

interface Entry {
  messageId: number;
  settled: 'stored' | 'refused' | null;
}

export class AckQueue {
  private held: Entry[] = [];

  /** `send` writes the PUBACK on the connection these messages came on. */
  constructor(private readonly send: (messageId: number) => void) {}

  /** How many messages wait for their PUBACK. */
  get size(): number {
    return this.held.length;
  }

  hold(messageId: number): HeldAck {
    const entry: Entry = { messageId, settled: null };
    this.held.push(entry);
    return {
      ack: () => this.settle(entry, 'stored'),
      refuse: () => this.settle(entry, 'refused'),
    };
  }

  /**
   * The connection closed: nothing it delivered is acknowledged on another connection (a packet
   * id is the session's, and the broker sends the unacknowledged messages again anyway).
   */
  clear(): void {
    this.held = [];
  }

  private settle(entry: Entry, outcome: 'stored' | 'refused'): void {
    if (entry.settled) return;
    entry.settled = outcome;
    while (this.held[0]?.settled === 'stored') this.send(this.held.shift()!.messageId);
  }
}
