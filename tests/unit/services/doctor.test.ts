/**
 * The box's checks (`ayi doctor` and the status to HQ): each finding's level, what it says and the
 * fix, from the hub's own views; certificate files made with openssl; the `ayi` user's access to
 * the TLS files worked out from real files' modes; the release from an install root laid out as
 * on a box.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  backupsCheck,
  brokerCheck,
  certificatesCheck,
  clockCheck,
  devicesCheck,
  diskCheck,
  journalCheck,
  memberKeyCheck,
  sameSummary,
  summarize,
} from '../../../hub/src/services/doctor.ts';
import type { StorageView } from '../../../hub/src/storage/storage-monitor.ts';
import type { DeviceStatusView } from '../../../hub/src/devices/device-types.ts';
import type { HqLinkState } from '../../../hub/src/services/hq-link.service.ts';
import type { BackupView } from '../../../hub/src/services/backup.service.ts';
import {
  backupsFromFiles,
  formatChecks,
  parseEnvFile,
  serviceUserAccess,
  updateCheck,
} from '../../../scripts/lib/doctor.ts';
import { TempDirs } from '../../support/temp-dirs.ts';
import { TestPki } from '../../support/test-pki.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const NOW = new Date('2026-03-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;

function storage(over: Partial<StorageView>): StorageView {
  return {
    state: 'ok',
    freeBytes: 20 * 1024 ** 3,
    totalBytes: 32 * 1024 ** 3,
    freePercent: 62.5,
    daysLeft: null,
    minFreePercent: 10,
    minFreeBytes: 500 * 1024 * 1024,
    lastFullError: null,
    lastFullAt: null,
    storageError: null,
    storageErrorAt: null,
    ...over,
  };
}

function link(over: Partial<HqLinkState>): HqLinkState {
  return {
    link: 'connected',
    broker: 'mqtts://broker.example:8883',
    lastSeq: 10,
    deliveredSeq: 10,
    backlog: 0,
    inFlight: 0,
    oldestUndeliveredAt: null,
    backlogAlert: false,
    backlogAlertSeconds: 900,
    lastError: null,
    lastErrorAt: null,
    connectedSince: '2026-03-01T11:00:00.000Z',
    ...over,
  };
}

function device(over: Partial<DeviceStatusView>): DeviceStatusView {
  return {
    deviceId: 'counter',
    kind: 'printer',
    name: 'Counter printer',
    transport: 'usb',
    connected: true,
    paper: 'ok',
    queueLength: 0,
    lastError: null,
    assignedTo: null,
    updatedAt: NOW.toISOString(),
    ...over,
  };
}

const backups = (over: Partial<BackupView>): BackupView => ({
  enabled: true,
  keep: 14,
  lastBackupAt: new Date(NOW.getTime() - 5 * 3600_000).toISOString(),
  lastBackupFile: 'x.ayibackup',
  lastBackupSeq: 10,
  lastAttemptAt: null,
  lastResult: null,
  lastError: null,
  ...over,
});

describe('the clock check', () => {
  const view = { now: NOW.toISOString(), lastEventAt: '2026-03-02T09:00:00.000Z', toleranceSeconds: 120 };
  it('fails while the clock is behind the journal, whatever NTP says', () => {
    const check = clockCheck({ ...view, state: 'behind' }, true);
    expect(check.level).toBe('fail');
    expect(check.summary).toContain('2026-03-02T09:00:00.000Z');
    expect(check.fix).toContain('The clock is behind');
  });
  it('warns when NTP has not synchronised it, and is ok when it has or cannot be asked', () => {
    expect(clockCheck({ ...view, state: 'ok' }, false).level).toBe('warn');
    expect(clockCheck({ ...view, state: 'ok' }, true).level).toBe('ok');
    expect(clockCheck(null, null).level).toBe('ok');
  });
});

describe('the disk check', () => {
  it('is ok with room, warns when low, fails when full or refusing writes', () => {
    expect(diskCheck(storage({})).level).toBe('ok');
    expect(diskCheck(storage({})).summary).toContain('20.0 GB free (62.5 %)');
    const low = diskCheck(storage({ state: 'low', freeBytes: 300 * 1024 ** 2, freePercent: 0.9, daysLeft: 6.2 }));
    expect(low).toMatchObject({ level: 'warn' });
    expect(low.summary).toContain('300 MB free (0.9 %), full in about 6 days');
    expect(diskCheck(storage({ state: 'full', freeBytes: 0 })).level).toBe('fail');
    const error = diskCheck(storage({ state: 'error', storageError: 'EIO (write)' }));
    expect(error.level).toBe('fail');
    expect(error.summary).toContain('EIO (write)');
    expect(error.fix).toMatch(/replace it/);
  });
});

describe('the journal check', () => {
  it('fails with damaged lines or missing seqs, counting them', () => {
    expect(journalCheck({ missingSeqs: [], damagedLines: [] }).level).toBe('ok');
    const damaged = journalCheck({
      missingSeqs: [41, 42],
      damagedLines: [{ file: '2026-03-01.jsonl', lines: [7, 9] }],
    });
    expect(damaged.level).toBe('fail');
    expect(damaged.summary).toContain('2 damaged lines and lacks 2 seqs (first 41)');
  });
});

describe('the printers and scanners checks', () => {
  it('fail for a device not connected (with its last error) or out of paper, warn near the end', () => {
    expect(devicesCheck('printer', [device({})]).level).toBe('ok');
    const gone = devicesCheck('printer', [device({ connected: false, lastError: 'unplugged' })]);
    expect(gone.level).toBe('fail');
    expect(gone.summary).toBe('Counter printer (counter) is not connected: unplugged');
    expect(devicesCheck('printer', [device({ paper: 'out' })]).level).toBe('fail');
    expect(devicesCheck('printer', [device({ paper: 'near_end' })]).level).toBe('warn');
  });
  it('warn when receipts print nowhere on paper: no printer, or only the virtual one', () => {
    expect(devicesCheck('printer', []).level).toBe('warn');
    const virtualOnly = devicesCheck('printer', [device({ transport: 'virtual', deviceId: 'virtual' })]);
    expect(virtualOnly.level).toBe('warn');
    expect(virtualOnly.summary).toContain('virtual printer');
    expect(devicesCheck('printer', [device({ transport: 'virtual' }), device({ deviceId: 'usb-1' })]).level).toBe('ok');
  });
  it('look at their own kind only; no scanner set up is ok', () => {
    const scanner = device({ kind: 'scanner', deviceId: 'scan-1', connected: false, paper: null });
    expect(devicesCheck('printer', [device({}), scanner]).level).toBe('ok');
    expect(devicesCheck('scanner', [device({}), scanner]).level).toBe('fail');
    expect(devicesCheck('scanner', []).summary).toBe('No scanner is set up (devices.json).');
  });
});

describe('the broker check', () => {
  it('is ok while connected and warns without a broker', () => {
    expect(brokerCheck(link({})).level).toBe('ok');
    expect(brokerCheck(link({ link: 'disabled', broker: null })).level).toBe('warn');
    // Just started, the first connection under way: not yet a failure.
    expect(brokerCheck(link({ link: 'connecting', connectedSince: null })).level).toBe('warn');
  });
  it("says why it is not connected, and the fix fits the link's last error", () => {
    const refused = brokerCheck(
      link({ link: 'disconnected', lastError: 'Connection refused: Bad User Name or Password' }),
    );
    expect(refused.level).toBe('fail');
    expect(refused.summary).toBe(
      'Not connected to mqtts://broker.example:8883: Connection refused: Bad User Name or Password.',
    );
    expect(refused.fix).toContain('AYI_MQTT_PASSWORD');
    const tls = brokerCheck(link({ link: 'connecting', lastError: 'self-signed certificate in certificate chain' }));
    expect(tls.fix).toContain('AYI_MQTT_CA_FILE');
    const network = brokerCheck(link({ link: 'disconnected', lastError: 'connect ECONNREFUSED 10.0.0.1:8883' }));
    expect(network.fix).toContain('internet connection');
  });
});

describe('the certificates check', () => {
  const pki = new TestPki(temp.make('ayi-doctor-unit-pki-'));
  const year = pki.selfSigned('year', '/CN=t', { days: 365 });
  const soon = pki.selfSigned('soon', '/CN=t', { days: 10 });

  it('is ok for a certificate valid beyond 30 days, and checks the key is a key', () => {
    const check = certificatesCheck(
      [
        { setting: 'AYI_MQTT_CERT_FILE', file: year.cert },
        { setting: 'AYI_MQTT_KEY_FILE', file: year.key, kind: 'key' },
      ],
      new Date(),
    );
    expect(check.level).toBe('ok');
    expect(certificatesCheck([{ setting: 'AYI_MQTT_KEY_FILE', file: year.cert, kind: 'key' }], new Date()).level).toBe(
      'fail',
    );
  });
  it('warns within 30 days of expiry and fails once expired', () => {
    const warn = certificatesCheck([{ setting: 'AYI_MQTT_CA_FILE', file: soon.cert }], new Date());
    expect(warn.level).toBe('warn');
    expect(warn.summary).toMatch(/AYI_MQTT_CA_FILE \(.*soon\.crt\) expires in (9|10) days/);
    const expired = certificatesCheck(
      [{ setting: 'AYI_MQTT_CA_FILE', file: soon.cert }],
      new Date(Date.now() + 11 * DAY),
    );
    expect(expired.level).toBe('fail');
    expect(expired.summary).toContain('expired on');
  });
  it('fails for a file that is missing or not a certificate', () => {
    const missing = certificatesCheck([{ setting: 'AYI_MQTT_CA_FILE', file: path.join(pki.dir, 'nope.crt') }], NOW);
    expect(missing.summary).toContain('cannot be read (ENOENT)');
    writeFileSync(path.join(pki.dir, 'junk.crt'), 'not a certificate');
    const junk = certificatesCheck([{ setting: 'AYI_MQTT_CA_FILE', file: path.join(pki.dir, 'junk.crt') }], NOW);
    expect(junk).toMatchObject({ level: 'fail' });
    expect(junk.summary).toContain('is not a PEM certificate');
  });
});

describe("the ayi user's access to the TLS files", () => {
  const ayi = { uid: 4242, gids: [4242] };
  it('fails for a file in a directory closed to it, or a file only root may read, and passes root:ayi 0750/0640', () => {
    const etc = temp.make('ayi-doctor-etc-');
    chmodSync(etc, 0o755);
    const tls = path.join(etc, 'tls');
    mkdirSync(tls, { mode: 0o700 });
    const file = path.join(tls, 'ca.crt');
    writeFileSync(file, 'x', { mode: 0o600 });
    const files = [{ setting: 'AYI_MQTT_CA_FILE', file }];
    const closed = serviceUserAccess(files, ayi);
    expect(closed?.level).toBe('fail');
    expect(closed?.summary).toContain(`the directory ${tls} is closed to it`);
    expect(closed?.fix).toContain('chmod 0640');
    // The layout the box uses: root:ayi 0750 directory, root:ayi 0640 files.
    execFileSync('chown', ['0:4242', tls, file]);
    chmodSync(tls, 0o750);
    expect(serviceUserAccess(files, ayi)?.summary).toContain('its mode or owner');
    chmodSync(file, 0o640);
    expect(serviceUserAccess(files, ayi)).toBeNull();
    // Nothing to say where there is no ayi user (a checkout).
    expect(serviceUserAccess(files, null)).toBeNull();
  });
});

describe('the chain member key check', () => {
  it('warns when unset, fails when malformed (never showing it), passes 32 base64 bytes', () => {
    expect(memberKeyCheck(null).level).toBe('warn');
    const bad = memberKeyCheck('short-key');
    expect(bad.level).toBe('fail');
    expect(JSON.stringify(bad)).not.toContain('short-key');
    expect(memberKeyCheck(Buffer.alloc(32, 1).toString('base64')).level).toBe('ok');
  });
});

describe('the backups check', () => {
  it('warns when none are set up, fails on a failed or old backup', () => {
    expect(backupsCheck(backups({ enabled: false }), [], NOW).level).toBe('warn');
    expect(backupsCheck(backups({}), [], NOW).summary).toBe('Backups run; the newest is 5 hours old.');
    const failed = backupsCheck(backups({ lastError: 'ENOENT: the USB stick is not mounted' }), ['backup_failed'], NOW);
    expect(failed.level).toBe('fail');
    expect(failed.summary).toContain('the USB stick is not mounted');
    expect(backupsCheck(backups({}), ['backup_old'], NOW).level).toBe('fail');
  });
  it('from the files when the hub is down: the newest backup file by its time', () => {
    const dir = temp.make('ayi-doctor-backups-');
    expect(backupsFromFiles(dir, NOW).level).toBe('fail');
    const file = path.join(dir, 'ayi-c-s-20260301T000000000Z-seq5.ayibackup');
    writeFileSync(file, 'x');
    const at = new Date(NOW.getTime() - 3 * 3600_000);
    utimesSync(file, at, at);
    expect(backupsFromFiles(dir, NOW)).toMatchObject({
      level: 'ok',
      summary: 'Backups run; the newest is 3 hours old.',
    });
    const old = new Date(NOW.getTime() - 3 * DAY);
    utimesSync(file, old, old);
    expect(backupsFromFiles(dir, NOW).level).toBe('fail');
    expect(backupsFromFiles(null, NOW).level).toBe('warn');
  });
});

describe('the update check', () => {
  it('names the release current points at and when it was switched to; a checkout is fine', () => {
    const opt = temp.make('ayi-doctor-opt-');
    expect(updateCheck(opt, '1.2.0')).toMatchObject({ level: 'ok' });
    expect(updateCheck(opt, '1.2.0').summary).toContain('Not installed from a release');
    mkdirSync(path.join(opt, 'releases', '1.2.0'), { recursive: true });
    writeFileSync(path.join(opt, 'releases', '1.2.0', 'RELEASE.json'), JSON.stringify({ version: '1.2.0' }));
    symlinkSync('releases/1.2.0', path.join(opt, 'current'));
    const check = updateCheck(opt, '1.2.0');
    expect(check.level).toBe('ok');
    expect(check.summary).toMatch(/^Release 1\.2\.0, installed \d{4}-\d\d-\d\dT/);
    // The hub still runs the release before: it needs a restart.
    expect(updateCheck(opt, '1.1.0').level).toBe('warn');
  });
  it('fails when current points at no release', () => {
    const opt = temp.make('ayi-doctor-opt-');
    symlinkSync('releases/9.9.9', path.join(opt, 'current'));
    expect(updateCheck(opt, null).level).toBe('fail');
  });
});

describe('the summary and the table', () => {
  const checks = [
    { id: 'clock', level: 'ok' as const, summary: 'fine', fix: null },
    { id: 'disk', level: 'warn' as const, summary: 'low', fix: 'free space' },
    { id: 'backups', level: 'fail' as const, summary: 'failed', fix: 'mount the stick' },
  ];
  it('lists the failing and warning ids, and compares summaries whatever the order', () => {
    expect(summarize(checks)).toEqual({ failing: ['backups'], warning: ['disk'] });
    expect(sameSummary({ failing: ['a', 'b'], warning: [] }, { failing: ['b', 'a'], warning: [] })).toBe(true);
    expect(sameSummary({ failing: ['a'], warning: [] }, { failing: [], warning: ['a'] })).toBe(false);
  });
  it('prints ✓ ! ✗ with the fix under what is not ok', () => {
    expect(formatChecks(checks)).toBe(
      [
        '✓ clock    fine',
        '! disk     low',
        '           fix: free space',
        '✗ backups  failed',
        '           fix: mount the stick',
        '',
        '1 failing, 1 warning. What each check means: "ayi doctor" in firmware-config/README.md.',
        '',
      ].join('\n'),
    );
  });
  it('reads the settings file as systemd does, quotes optional', () => {
    expect(parseEnvFile('# c\nAYI_A=1\n AYI_B = "two words"\nAYI_C=\'x\'\n')).toEqual({
      AYI_A: '1',
      AYI_B: 'two words',
      AYI_C: 'x',
    });
  });
});
