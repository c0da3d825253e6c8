/**
 * The hub's side of systemd's watchdog (`WatchdogSec=` in the unit): WATCHDOG=1 every third of the
 * timeout, but only while the hub can actually sell. A hub that stops pinging is restarted by
 * systemd. Each ping needs, in order:
 * - an event loop that runs: a blocked loop sends nothing at all, and a tick that comes far too
 *   late (the loop was stuck, then freed) sends nothing either;
 * - a journal whose writes finish: an fdatasync running for longer than `journalStuckMs` (a dying
 *   SD card) means no sale can be acknowledged;
 * - an HTTP server that answers: GET /api/health over the loopback socket within `httpTimeoutMs`.
 * A degraded hub (a full disk, an HQ backlog) still answers and still pings: a restart would not
 * fix it. Why the pings stopped is logged once, and again when they start again.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import type { SystemdNotifier } from './systemd-notify.js';

/** How the health checks name themselves (the HTTP server logs them at debug, not at info). */
export const WATCHDOG_USER_AGENT = 'ayi-watchdog';

export interface WatchdogOptions {
  /** systemd's watchdog timeout (WATCHDOG_USEC) in ms. */
  timeoutMs: number;
  /** The hub's health page, e.g. http://127.0.0.1:8080/api/health. */
  healthUrl: string;
  /** How long the journal's running write has been running (ms), null when none is. */
  journalFlushRunningMs: (now: number) => number | null;
  notifier: Pick<SystemdNotifier, 'watchdog' | 'status'>;
  log: Pick<Logger, 'info' | 'warn'>;
  /** A monotonic clock in ms (default performance.now(): a clock set by time sync does not move it). */
  now?: () => number;
}

/** Why the hub is not pinging: a kind (logged once per change) and the words for the log and STATUS=. */
export interface WatchdogProblem {
  kind: 'event_loop_stuck' | 'journal_write_stuck' | 'http_not_answering' | 'check_failed';
  message: string;
}

export class HubWatchdog {
  readonly intervalMs: number;
  /** A tick later than this after it was due: the event loop was stuck. */
  readonly lateMs: number;
  readonly journalStuckMs: number;
  readonly httpTimeoutMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private dueAt = 0;
  private stopped = true;
  private problem: WatchdogProblem | null = null;
  private sendFailing = false;

  constructor(private readonly options: WatchdogOptions) {
    // A third of the timeout, as sd_watchdog_enabled(3) advises: one lost ping is not a restart.
    this.intervalMs = options.timeoutMs / 3;
    this.lateMs = this.intervalMs;
    // Two pings' time: longer than a slow SD card's fdatasync under load, well short of a hung one.
    this.journalStuckMs = 2 * this.intervalMs;
    this.httpTimeoutMs = Math.min(5000, this.intervalMs / 2);
    this.now = options.now ?? (() => performance.now());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.options.log.info({ pingEverySeconds: this.intervalMs / 1000 }, 'systemd watchdog on');
    const now = this.now();
    this.dueAt = now;
    void this.tick(now);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** What keeps the hub from pinging now (null: healthy). `lateByMs`: how late this tick came. */
  async check(lateByMs = 0): Promise<WatchdogProblem | null> {
    if (lateByMs > this.lateMs) {
      return {
        kind: 'event_loop_stuck',
        message: `the event loop was stuck (a check came ${seconds(lateByMs)} late)`,
      };
    }
    const flushing = this.options.journalFlushRunningMs(this.now());
    if (flushing !== null && flushing > this.journalStuckMs) {
      return {
        kind: 'journal_write_stuck',
        message: `a journal write (fdatasync) has not finished for ${seconds(flushing)}: the data disk may be failing`,
      };
    }
    const answer = await getStatus(this.options.healthUrl, this.httpTimeoutMs);
    if (answer !== 200) {
      return {
        kind: 'http_not_answering',
        message:
          typeof answer === 'number'
            ? `the health page answered HTTP ${answer}`
            : `the health page did not answer within ${seconds(this.httpTimeoutMs)} (${answer})`,
      };
    }
    return null;
  }

  private async tick(startedAt: number): Promise<void> {
    let problem: WatchdogProblem | null;
    try {
      problem = await this.check(startedAt - this.dueAt);
    } catch (err) {
      problem = { kind: 'check_failed', message: `the health check failed (${(err as Error).message})` };
    }
    if (this.stopped) return;
    this.note(problem);
    if (!problem) {
      this.options.notifier.watchdog().then(
        () => {
          if (this.sendFailing) this.options.log.info('systemd watchdog pings are delivered again');
          this.sendFailing = false;
        },
        (err: unknown) => {
          if (!this.sendFailing) this.options.log.warn({ err }, 'cannot send the watchdog ping to systemd');
          this.sendFailing = true;
        },
      );
    }
    this.dueAt = this.now() + this.intervalMs;
    this.timer = setTimeout(() => void this.tick(this.now()), this.intervalMs);
  }

  private note(problem: WatchdogProblem | null): void {
    const before = this.problem;
    this.problem = problem;
    if (problem && problem.kind !== before?.kind) {
      this.options.log.warn(
        { code: problem.kind },
        `watchdog pings to systemd stopped: ${problem.message}; systemd restarts the hub if this lasts`,
      );
      this.sendStatus(`Not healthy: ${problem.message}`);
    } else if (!problem && before) {
      this.options.log.info({ code: before.kind }, 'watchdog pings to systemd resumed: the hub is healthy again');
      this.sendStatus('Selling');
    }
  }

  private sendStatus(text: string): void {
    this.options.notifier.status(text).catch(() => undefined);
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The HTTP status of a GET of `url`, or why there was none (a new connection each time, closed after). */
function getStatus(url: string, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const options = {
      agent: false,
      signal: AbortSignal.timeout(timeoutMs),
      headers: { 'user-agent': WATCHDOG_USER_AGENT },
    };
    const request = http.get(url, options, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', (err) => resolve(err.message));
    });
    request.on('error', (err) => resolve(err.name === 'AbortError' ? 'timed out' : err.message));
  });
}
