/**
 * Password checks that cannot race their own limit: attempts on one user name, or from one client
 * address, run one after another, so each sees the failures of those before it (check, verify,
 * record as one step); and at most a few argon2 verifications run at once, so a flood of attempts
 * queues instead of taking every core and all the memory (19 MiB each). In this process: several
 * HQ servers behind a balancer each keep their own order, and the limits counted in the database
 * still hold across them, a few attempts late at most.
 */
export class OneAtATime {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `task` after every task given before with any of the same keys. */
  async run<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const before = keys.map((key) => this.#tails.get(key) ?? Promise.resolve());
    const done = Promise.allSettled(before).then(task);
    const tail = done.catch(() => undefined);
    for (const key of keys) this.#tails.set(key, tail);
    try {
      return await done;
    } finally {
      // The last task of a key leaves nothing behind.
      for (const key of keys) if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free += 1;
    }
  }
}
