/**
 * Tells systemd how the hub is doing (sd_notify): READY=1 once it answers, STOPPING=1 when it shuts
 * down, a STATUS= line for `systemctl status`, and WATCHDOG=1 pings (see watchdog.service.ts).
 *
 * Node has no unix datagram sockets, so the messages go through systemd's own `systemd-notify` tool
 * (its implementation of sd_notify). It is a child process, so the unit needs `NotifyAccess=all`; it
 * waits until the manager has taken the message (a barrier), so the message is counted as the hub's
 * even though the tool has exited by then. The npm `sd-notify` package is not used: it is a native
 * addon built against libsystemd's headers and cannot be cross-built for the arm64 release.
 *
 * Without NOTIFY_SOCKET in the environment (not started by systemd, or `Type=simple`) nothing is sent.
 */
import { execFile } from 'node:child_process';

/** The tool's own wait for the manager is 5 s; a manager that takes longer gets the tool killed. */
const SEND_TIMEOUT_MS = 10_000;

export type NotifySender = (assignments: string[]) => Promise<void>;

/** Sends `KEY=value` assignments with `systemd-notify` (resolves when the tool has exited 0). */
export function systemdNotifySender(command = 'systemd-notify'): NotifySender {
  return (assignments) =>
    new Promise<void>((resolve, reject) => {
      execFile(command, assignments, { timeout: SEND_TIMEOUT_MS }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${command} ${assignments.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve();
      });
    });
}

/** The watchdog systemd asks for: its timeout, or null when none is set for this process. */
export function watchdogTimeoutMs(env: NodeJS.ProcessEnv, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  // WATCHDOG_PID names the process systemd expects the pings from; a child that inherited it must not ping.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec / 1000;
}

/** A STATUS= line is one line: no newline may end the message early. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export class SystemdNotifier {
  private constructor(private readonly send: NotifySender) {}

  /** A notifier when systemd gave the hub a socket (NOTIFY_SOCKET), else null. */
  static fromEnv(
    env: NodeJS.ProcessEnv = process.env,
    send: NotifySender = systemdNotifySender(),
  ): SystemdNotifier | null {
    return env.NOTIFY_SOCKET ? new SystemdNotifier(send) : null;
  }

  ready(status: string): Promise<void> {
    return this.send(['READY=1', `STATUS=${oneLine(status)}`]);
  }

  status(status: string): Promise<void> {
    return this.send([`STATUS=${oneLine(status)}`]);
  }

  stopping(status: string): Promise<void> {
    return this.send(['STOPPING=1', `STATUS=${oneLine(status)}`]);
  }

  watchdog(): Promise<void> {
    return this.send(['WATCHDOG=1']);
  }
}
