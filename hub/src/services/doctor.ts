/**
 * The box's checks (`ayi doctor`, and their summary in the status HQ receives): each says in plain
 * words what is wrong and what to do. The hub makes those it can see itself (clock, disk, journal,
 * printers and scanners, the link to HQ, its TLS files, the chain's member key, backups); the `ayi`
 * command adds what only root on the box can see (the settings file, the service, the release).
 * Fixes point at sections of firmware-config/README.md.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { StorageView } from '../storage/storage-monitor.js';
import type { ClockView } from '../storage/clock-guard.js';
import type { JournalDamage } from '../storage/journal.js';
import type { DeviceStatusView } from '../devices/device-types.js';
import type { HqLinkState } from './hq-link.service.js';
import type { BackupView } from './backup.service.js';

export type CheckLevel = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  /** Stable name (in the status to HQ): clock, disk, journal, printers, scanners, broker, certificates, member-key, backups, … */
  id: string;
  level: CheckLevel;
  /** What was found, in plain words (also when all is well). */
  summary: string;
  /** What to do: a command or a step (null when nothing is to be done). */
  fix: string | null;
}

/** The status's summary of the checks: ids only, no detail (HQ sees which box needs a visit). */
export interface CheckSummary {
  failing: string[];
  warning: string[];
}

/** A certificate expiring within this many days is a warning. */
export const CERT_WARN_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;
/** Where the fixes point (firmware-config/README.md, sections of "ayi doctor"). */
const DOC = 'firmware-config/README.md';

export function summarize(checks: DoctorCheck[]): CheckSummary {
  return {
    failing: checks.filter((c) => c.level === 'fail').map((c) => c.id),
    warning: checks.filter((c) => c.level === 'warn').map((c) => c.id),
  };
}

/** Same ids failing and warning (in any order). */
export function sameSummary(a: CheckSummary | null, b: CheckSummary | null): boolean {
  if (a === null || b === null) return a === b;
  const key = (s: CheckSummary) => JSON.stringify([[...s.failing].sort(), [...s.warning].sort()]);
  return key(a) === key(b);
}

const ok = (id: string, summary: string): DoctorCheck => ({ id, level: 'ok', summary, fix: null });

/**
 * The clock against the journal's last event, and whether NTP has set it (`timedatectl show -p
 * NTPSynchronized`: null where that cannot be asked, e.g. no systemd).
 */
export function clockCheck(view: ClockView | null, ntpSynchronized: boolean | null): DoctorCheck {
  const fixBehind =
    `Get the box on the network so NTP sets the time, or set it by hand: see "The clock is behind" in ${DOC}. ` +
    'Sales resume by themselves once it is right.';
  if (view?.state === 'behind') {
    return {
      id: 'clock',
      level: 'fail',
      summary: `The clock (${view.now}) is behind the journal's last event (${view.lastEventAt}): sales and changes are refused.`,
      fix: fixBehind,
    };
  }
  if (ntpSynchronized === false) {
    return {
      id: 'clock',
      level: 'warn',
      summary: 'The clock is not synchronised by NTP (timedatectl: System clock synchronized: no).',
      fix: `Check the network and the time server: timedatectl timesync-status; see "The clock is behind" in ${DOC}.`,
    };
  }
  const ntp = ntpSynchronized === true ? ', synchronised by NTP' : '';
  return ok(
    'clock',
    view
      ? `The clock is after the journal's last event${ntp}.`
      : ntpSynchronized === true
        ? 'The clock is synchronised by NTP (compared with the journal by the hub only).'
        : 'NTP cannot be asked here; the clock is compared with the journal by the hub only.',
  );
}

/** Free space on the data directory's disk, and write errors (StorageMonitor's view). */
export function diskCheck(view: StorageView): DoctorCheck {
  const free =
    view.freeBytes === null
      ? 'unknown free space'
      : `${formatBytes(view.freeBytes)} free${view.freePercent === null ? '' : ` (${view.freePercent.toFixed(1)} %)`}`;
  const fix = `Free space in the data directory's disk or move the data to a USB SSD: see "Disk space" in ${DOC}.`;
  if (view.state === 'error') {
    return {
      id: 'disk',
      level: 'fail',
      summary: `The data disk refuses writes (${view.storageError ?? 'I/O error'}): sales are refused.`,
      fix: `The SD card or disk is failing: replace it (back up first, then restore): see "Disk space" in ${DOC}.`,
    };
  }
  if (view.state === 'full') {
    return { id: 'disk', level: 'fail', summary: `The data disk is full: ${free}; sales are refused.`, fix };
  }
  if (view.state === 'low') {
    const days = view.daysLeft === null ? '' : `, full in about ${Math.round(view.daysLeft)} days`;
    return { id: 'disk', level: 'warn', summary: `The data disk is running out of space: ${free}${days}.`, fix };
  }
  return ok('disk', `The data disk has room: ${free}.`);
}

/** Damaged journal lines and seqs missing from it. */
export function journalCheck(damage: JournalDamage): DoctorCheck {
  const lines = damage.damagedLines.reduce((n, file) => n + file.lines.length, 0);
  if (lines === 0 && damage.missingSeqs.length === 0) return ok('journal', 'The journal reads back whole.');
  const missing = damage.missingSeqs.length;
  return {
    id: 'journal',
    level: 'fail',
    summary:
      `The journal has ${lines} damaged line${lines === 1 ? '' : 's'}` +
      (missing > 0 ? ` and lacks ${missing} seq${missing === 1 ? '' : 's'} (first ${damage.missingSeqs[0]})` : '') +
      ': HQ is asked to send them back; the SD card may be failing.',
    fix: `See "The journal" in ${DOC}: check the card (dmesg), back up, and replace the card if errors continue.`,
  };
}

/** Printers (connected, paper, last error) or scanners (connected, last error). */
export function devicesCheck(kind: 'printer' | 'scanner', devices: DeviceStatusView[]): DoctorCheck {
  const id = `${kind}s`;
  const mine = devices.filter((d) => d.kind === kind);
  // A store prints receipts: a box with no printer, or only the virtual one, prints nothing on paper.
  if (kind === 'printer' && mine.every((d) => d.transport === 'virtual')) {
    return {
      id,
      level: 'warn',
      summary:
        mine.length === 0
          ? 'No receipt printer is set up (devices.json): receipts print nowhere.'
          : 'Only the virtual printer is set up (devices.json): receipts print nowhere on paper.',
      fix: `See "Printers and barcode scanners" in ${DOC}: plug the printer in, ayi discover shows its devices.json entry.`,
    };
  }
  if (mine.length === 0) return ok(id, `No ${kind} is set up (devices.json).`);
  const fix = `See "Printers and barcode scanners" in ${DOC}: plug it in and power it on, check its cable; ayi hardware shows each one's state.`;
  const gone = mine.filter((d) => !d.connected);
  if (gone.length > 0) {
    return {
      id,
      level: 'fail',
      summary: gone
        .map((d) => `${d.name} (${d.deviceId}) is not connected${d.lastError ? `: ${d.lastError}` : ''}`)
        .join('; '),
      fix,
    };
  }
  const noPaper = mine.filter((d) => d.paper === 'out');
  if (noPaper.length > 0) {
    return {
      id,
      level: 'fail',
      summary: noPaper.map((d) => `${d.name} (${d.deviceId}) is out of paper`).join('; '),
      fix: 'Put a new paper roll in; printing resumes by itself.',
    };
  }
  const nearEnd = mine.filter((d) => d.paper === 'near_end');
  if (nearEnd.length > 0) {
    return {
      id,
      level: 'warn',
      summary: nearEnd.map((d) => `${d.name} (${d.deviceId}) is nearly out of paper`).join('; '),
      fix: 'Have a paper roll ready at the counter.',
    };
  }
  return ok(id, mine.map((d) => `${d.name} (${d.deviceId}) connected`).join('; '));
}

/** The link to HQ's broker: connected, or why not (its last error says: credentials, TLS, network). */
export function brokerCheck(state: HqLinkState): DoctorCheck {
  if (state.link === 'disabled') {
    return {
      id: 'broker',
      level: 'warn',
      summary: 'No broker is set (AYI_MQTT_URL): HQ receives nothing from this store.',
      fix: `Set AYI_MQTT_URL and the credentials HQ gave in /etc/ayi/hub.env, then sudo systemctl restart ayi-hub: see "The link to HQ" in ${DOC}.`,
    };
  }
  if (state.link === 'connected') {
    return ok('broker', `Connected to ${state.broker} since ${state.connectedSince}; ${state.backlog} events to send.`);
  }
  if (state.lastError === null) {
    // Just started: the first connection is under way.
    return {
      id: 'broker',
      level: 'warn',
      summary: `Connecting to ${state.broker} (no answer yet).`,
      fix: `Run ayi doctor again in a minute; if it still says so, see "The link to HQ" in ${DOC}.`,
    };
  }
  const why = state.lastError;
  return {
    id: 'broker',
    level: 'fail',
    summary: `Not connected to ${state.broker}: ${why}.`,
    fix: brokerFix(why),
  };
}

function brokerFix(error: string): string {
  const see = `see "The link to HQ" in ${DOC}`;
  if (/not authori[sz]ed|bad user ?name or password|bad username|password/i.test(error)) {
    return `The broker refuses the box's credentials: check AYI_MQTT_USERNAME and AYI_MQTT_PASSWORD in /etc/ayi/hub.env against what HQ gave, then sudo systemctl restart ayi-hub; ${see}.`;
  }
  if (/certificate|self[- ]signed|CERT_|SSL|TLS|alert/i.test(error)) {
    return `The TLS handshake fails: check AYI_MQTT_CA_FILE and the client certificate (ayi doctor's certificates check); ${see}.`;
  }
  return `Check the store's internet connection and that the broker's address (AYI_MQTT_URL) answers: nc -vz <host> <port>; ${see}.`;
}

export interface CertificateFile {
  /** The setting that names it, e.g. AYI_MQTT_CA_FILE. */
  setting: string;
  file: string;
  /** A private key is only read (it has no dates); a certificate is parsed and its dates checked. */
  kind?: 'certificate' | 'key';
}

/**
 * The CA and client certificate files: readable (by the process that runs this; the hub runs as
 * `ayi`), a certificate, not expired, not expiring within CERT_WARN_DAYS.
 */
export function certificatesCheck(files: CertificateFile[], now: Date): DoctorCheck {
  if (files.length === 0) return ok('certificates', 'No TLS certificate files are set.');
  const fails: string[] = [];
  const warns: string[] = [];
  const oks: string[] = [];
  for (const { setting, file, kind = 'certificate' } of files) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      fails.push(
        code === 'EACCES'
          ? `${setting} (${file}) cannot be read by this user (EACCES)`
          : `${setting} (${file}) cannot be read (${code})`,
      );
      continue;
    }
    if (kind === 'key') {
      if (!data.toString('latin1').includes('PRIVATE KEY-----')) fails.push(`${setting} (${file}) is not a PEM key`);
      continue;
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(data);
    } catch {
      fails.push(`${setting} (${file}) is not a PEM certificate`);
      continue;
    }
    const validTo = new Date(cert.validTo);
    const validFrom = new Date(cert.validFrom);
    const days = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
    if (validTo.getTime() <= now.getTime()) fails.push(`${setting} (${file}) expired on ${validTo.toISOString()}`);
    else if (validFrom.getTime() > now.getTime())
      fails.push(`${setting} (${file}) is valid only from ${validFrom.toISOString()} (is the clock right?)`);
    else if (days < CERT_WARN_DAYS)
      warns.push(`${setting} (${file}) expires in ${days} days (${validTo.toISOString()})`);
    else oks.push(`${setting} valid until ${validTo.toISOString().slice(0, 10)}`);
  }
  const fix = `Ask HQ for a new certificate, copy it to /etc/ayi/tls/ (root:ayi, mode 0640), then sudo systemctl restart ayi-hub: see "Certificates" in ${DOC}.`;
  if (fails.length > 0) return { id: 'certificates', level: 'fail', summary: [...fails, ...warns].join('; '), fix };
  if (warns.length > 0) return { id: 'certificates', level: 'warn', summary: warns.join('; '), fix };
  return ok('certificates', oks.join('; '));
}

/**
 * The chain's member key (AYI_MEMBER_HASH_KEY): the same base64 key of 32+ bytes in every store, so
 * HQ links one person across stores. Unset: this box uses a key of its own (it sells, but HQ cannot
 * link its members to other stores'). The key is never shown.
 */
export function memberKeyCheck(key: string | null): DoctorCheck {
  const fix = `Set AYI_MEMBER_HASH_KEY in /etc/ayi/hub.env to the chain's key (the same in every store), then sudo systemctl restart ayi-hub: see "The chain's member key" in ${DOC}.`;
  if (key === null) {
    return {
      id: 'member-key',
      level: 'warn',
      summary:
        "No chain member key is set (AYI_MEMBER_HASH_KEY): HQ cannot link this store's members to other stores'.",
      fix,
    };
  }
  const wellFormed = /^[A-Za-z0-9+/]{43,}={0,2}$/.test(key) && Buffer.from(key, 'base64').length >= 32;
  if (!wellFormed) {
    return {
      id: 'member-key',
      level: 'fail',
      summary: 'The chain member key (AYI_MEMBER_HASH_KEY) is not base64 of at least 32 bytes (value not shown).',
      fix,
    };
  }
  return ok('member-key', 'The chain member key is set and well-formed.');
}

/** Backups: set up, the newest one's age, the last attempt. */
export function backupsCheck(view: BackupView, problems: string[], now: Date): DoctorCheck {
  const fix = `See "Back up, restore, replace a box" in ${DOC}: check that the backup disk is mounted and AYI_BACKUP_PASSPHRASE is set, then sudo ayi backup.`;
  if (!view.enabled) {
    return {
      id: 'backups',
      level: 'warn',
      summary: 'No backup directory is set (AYI_BACKUP_DIR): a failing SD card would lose the store.',
      fix,
    };
  }
  const age =
    view.lastBackupAt === null
      ? 'no backup yet'
      : `the newest is ${Math.floor((now.getTime() - Date.parse(view.lastBackupAt)) / 3600_000)} hours old`;
  if (problems.includes('backup_failed')) {
    return {
      id: 'backups',
      level: 'fail',
      summary: `The last backup failed: ${view.lastError ?? 'unknown error'} (${age}).`,
      fix,
    };
  }
  if (problems.includes('backup_old')) {
    return { id: 'backups', level: 'fail', summary: `No backup in the last 2 days (${age}).`, fix };
  }
  return ok(
    'backups',
    view.lastBackupAt === null ? 'Backups are set; the first runs tonight.' : `Backups run; ${age}.`,
  );
}

/**
 * NTPSynchronized from `timedatectl show -p NTPSynchronized` (systemd-timesyncd's verdict); null
 * where it cannot be asked (no systemd, no timedatectl): then only the journal comparison counts.
 */
export function ntpSynchronized(): Promise<boolean | null> {
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized'], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(null);
      const value = /^NTPSynchronized=(yes|no)$/m.exec(stdout)?.[1];
      resolve(value === undefined ? null : value === 'yes');
    });
  });
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(0)} MB`;
  return `${Math.round(bytes / 1024)} KB`;
}
