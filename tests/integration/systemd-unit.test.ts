/**
 * firmware-config/ayi-hub.service as systemd reads it: no setting it would ignore
 * (`systemd-analyze verify` only warns about those, so its output must be empty), an exposure of at
 * most 4.0 in `systemd-analyze security`, and still what the hub needs to sell: USB printers and
 * scanners, its data directory, and a start that waits for the clock only so long.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/hub-process.ts';

const run = promisify(execFile);
const UNIT = path.join(REPO_ROOT, 'firmware-config', 'ayi-hub.service');
const unitText = readFileSync(UNIT, 'utf8');
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((file) => existsSync(file));
if (!ANALYZE) console.warn('systemd-analyze is not installed (apt install systemd): the unit checks are skipped');

/** Every value of `key=` in the unit, in order. */
function values(key: string): string[] {
  return [...unitText.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]!.trim());
}

async function analyze(...args: string[]): Promise<{ output: string; code: number }> {
  try {
    const { stdout, stderr } = await run(ANALYZE!, args, { cwd: REPO_ROOT });
    return { output: stdout + stderr, code: 0 };
  } catch (err) {
    const failed = err as { stdout: string; stderr: string; code: number };
    return { output: failed.stdout + failed.stderr, code: failed.code };
  }
}

describe('the hub systemd unit', () => {
  it.skipIf(!ANALYZE)('is read by systemd without a warning', async () => {
    const { output, code } = await analyze('verify', UNIT);
    // The box has Node at /usr/bin/node; a test machine may have it elsewhere.
    const problems = output
      .split('\n')
      .filter((line) => line.trim() && !/Command \/usr\/bin\/node is not executable/.test(line));
    expect(problems).toEqual([]);
    if (existsSync('/usr/bin/node')) expect(code).toBe(0);
  });

  it.skipIf(!ANALYZE)('has an exposure of at most 4.0 in systemd-analyze security', async () => {
    const { output } = await analyze('security', '--offline=true', '--no-pager', UNIT);
    const overall = /Overall exposure level for ayi-hub\.service: (\d+(?:\.\d+)?)/.exec(output);
    expect(overall, output).not.toBeNull();
    expect(Number(overall![1])).toBeLessThanOrEqual(4.0);
  });

  it('tells systemd when the hub is ready and has a watchdog', () => {
    expect(values('Type')).toEqual(['notify']);
    // The messages come from systemd-notify, a child of the hub.
    expect(values('NotifyAccess')).toEqual(['all']);
    expect(Number(values('WatchdogSec')[0])).toBeGreaterThan(0);
  });

  it('waits for time sync, but never long enough to keep a store without internet from selling', () => {
    const [wait] = values('ExecStartPre');
    // "-": a wait that times out does not fail the start.
    expect(wait).toMatch(/^-\+?\/usr\/bin\/timeout (\d+) \/lib\/systemd\/systemd-time-wait-sync$/);
    const waitSeconds = Number(/timeout (\d+)/.exec(wait!)![1]);
    const startMinutes = Number(/^(\d+)min$/.exec(values('TimeoutStartSec')[0]!)![1]);
    expect(waitSeconds).toBeLessThanOrEqual(120);
    // Time left for a long journal replay after the wait.
    expect(startMinutes * 60 - waitSeconds).toBeGreaterThanOrEqual(5 * 60);
  });

  it('still lets the hub reach USB printers and scanners, its data and its settings', () => {
    expect(values('PrivateDevices')).not.toContain('true');
    const devices = values('DeviceAllow');
    for (const device of ['char-usb_device rw', 'char-hidraw rw', 'char-ttyUSB rw', 'char-ttyACM rw'])
      expect(devices).toContain(device);
    expect(values('ReadWritePaths')).toContain('/var/lib/ayi');
    // ProtectSystem=strict leaves /etc readable; these would hide /etc/ayi.
    expect(unitText).not.toMatch(/^(InaccessiblePaths|TemporaryFileSystem)=.*\/etc/m);
    expect(values('RestrictAddressFamilies').join(' ')).toMatch(/AF_INET\b.*AF_INET6.*AF_NETLINK/);
  });
});
