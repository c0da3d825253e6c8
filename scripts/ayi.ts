/**
 * The technician's command line for a running hub on this machine:
 *   npm run ayi -- pair                      a new pairing code for a tablet (10 minutes)
 *   npm run ayi -- pair --print [--printer ID] [--json]
 *                                            the same, printed on the receipt printer with the box's address
 *                                            and a QR code the tablet's camera opens (scripts/lib/pairing-cli.ts)
 *   npm run ayi -- catalog [--json]          products in the catalog, HQ's catalog version (scripts/lib/catalog-cli.ts)
 *   npm run ayi -- catalog-import <file.csv> [--dry-run] [--json]
 *                                            load a catalog CSV (UTF-8), all or nothing
 *   npm run ayi -- devices                   paired tablets
 *   npm run ayi -- revoke <deviceId>         unpair a tablet (closes its connection)
 *   npm run ayi -- unlock <deviceId>         lift a PIN lock from a tablet (managers can, from another tablet)
 *   npm run ayi -- unlock all                last resort: every tablet unlocked, every wrong PIN forgotten
 *   npm run ayi -- staff                     who can log in: id, name, role (never PINs)
 *   npm run ayi -- add-staff <name> <cashier|manager|owner>
 *                                            the PIN is asked for (a cashier's has 4 to 8 digits, a
 *                                            manager's or owner's 6 to 8)
 *   npm run ayi -- set-pin <staffId>         a new PIN (asked for); a manager's or owner's PIN under 6
 *                                            digits from an older version no longer logs in until then
 *   npm run ayi -- remove-staff <staffId>    that PIN no longer logs in (sales keep the name)
 *   npm run ayi -- snapshot                  write a snapshot now
 *   npm run ayi -- backup                    write an encrypted backup now into AYI_BACKUP_DIR (the store
 *                                            keeps selling); the newest AYI_BACKUP_KEEP are kept
 *   npm run ayi -- restore <backup file>     with the hub stopped: checks the passphrase and the file,
 *                                            restores it into the data directory (what was there is moved
 *                                            to before-restore-<time>/ in it) and starts a new epoch
 *   npm run ayi -- health
 *   npm run ayi -- hardware                  printers and scanners: connected, paper, queue, last error
 *   npm run ayi -- check-settings <file>     checks a store's settings (hub.env lines) before they are installed:
 *                                            every value, the TLS files, the member key and a real CONNECT
 *                                            to the broker with those credentials (scripts/provision runs it)
 *   npm run ayi -- discover                  USB printers, USB keyboard scanners and USB-COM ports plugged
 *                                            in, each with a devices.json entry to start from
 *   npm run ayi -- doctor [--json]           every check of the box with the fix for each (scripts/lib/doctor.ts);
 *                                            exit status 0 all ok, 1 warnings only, 2 failures
 *   sudo ayi update <artifact.tar.gz>        installs a release beside the running one, switches to it and
 *                                            rolls back by itself when it is not healthy (scripts/lib/update.ts)
 *   sudo ayi rollback                        back to the version before the last update
 * It talks to the hub through the socket in its data directory: AYI_DATA_DIR when set, else the one
 * the installed settings name (AYI_DATA_DIR in /etc/ayi/hub.env, the file the systemd unit reads;
 * AYI_SETTINGS_FILE names another), else ./data (a checkout).
 * The backup passphrase comes from the same settings (AYI_BACKUP_PASSPHRASE_FILE or
 * AYI_BACKUP_PASSPHRASE), never from the command line.
 * PINs are never arguments (they would stay in the shell's history and show in `ps`): they are typed
 * at a prompt that does not echo them, twice, or read from the first line of stdin when it is not a
 * terminal (`printf '583920\n' | npm run ayi -- set-pin stf-…`).
 */
import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { readPin } from './read-pin.ts';
import { adminRequest } from '../hub/src/transport/admin/admin.client.ts';
import { readPassphrase } from '../hub/src/storage/backup-archive.ts';
import { restoreBackup } from '../hub/src/services/backup-restore.ts';
import { findServiceUser, runDoctor } from './lib/doctor.ts';
import { catalogCommand } from './lib/catalog-cli.ts';
import { pairCommand } from './lib/pairing-cli.ts';
import { checkSettingsCommand } from './lib/settings-check.ts';
import { runUpdateCommand } from './lib/update.ts';

const [command, ...args] = process.argv.slice(2);
if (!command || command === 'help' || command === '--help') {
  process.stdout.write(
    'usage: npm run ayi -- <pair [--print]|catalog|catalog-import FILE|devices|revoke ID|unlock ID|unlock all|staff|add-staff NAME ROLE|set-pin STAFF_ID|remove-staff STAFF_ID|snapshot|backup|restore FILE|check-settings FILE|health|hardware|discover|doctor [--json]|update FILE|rollback>\n',
  );
  process.exit(command ? 0 : 2);
}
/** The installed settings file's text, read once (null: there is none). */
let settingsCache: string | null | undefined;
const dataDir = findDataDir();
const socketPath = path.join(dataDir, 'ayi.sock');
if (command === 'update' || command === 'rollback')
  process.exit(await runUpdateCommand(command, args, { dataDir, socketPath }));

/** Commands that set a PIN, and how many arguments come before it. */
const PIN_AFTER: Record<string, number> = { 'add-staff': 2, 'set-pin': 1 };

/** A backup takes a while on a big journal (and the passphrase's key is slow to derive on purpose). */
const BACKUP_TIMEOUT_MS = 10 * 60_000;

if (command === 'doctor') {
  process.exit(
    await runDoctor(args, {
      dataDir,
      settingsFile: settingsFileName(),
      settingsText: settingsText(),
      setting,
      installDir: path.resolve(process.env.AYI_INSTALL_DIR ?? '/opt/ayi'),
      now: new Date(),
      serviceUser: findServiceUser(),
    }),
  );
}

try {
  if (command === 'check-settings') process.exit(await checkSettingsCommand(args));
  if (command === 'restore') {
    await restore(args);
    process.exit(0);
  }
  if (command === 'pair' && args.length > 0) process.exit(await pairCommand(socketPath, args));
  if (command === 'catalog' || command === 'catalog-import')
    process.exit(await catalogCommand(socketPath, command, args));
  const pinAfter = PIN_AFTER[command];
  if (pinAfter !== undefined) {
    if (args.length > pinAfter) {
      throw new Error(
        `${command} takes no PIN on the command line (it would stay in the shell's history): it asks for it`,
      );
    }
    if (args.length < pinAfter) {
      throw new Error(
        command === 'add-staff'
          ? 'usage: add-staff <name> <cashier|manager|owner>'
          : 'usage: set-pin <staffId> (ayi staff lists the ids)',
      );
    }
    args.push(await readPin());
  }
  const result = await adminRequest(socketPath, command, args, command === 'backup' ? BACKUP_TIMEOUT_MS : 10_000);
  if (command === 'pair') {
    const { code, expiresAt } = result as { code: string; expiresAt: string };
    process.stdout.write(`Pairing code: ${code} (valid until ${expiresAt})\n`);
  } else {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  if (command === 'restore') {
    process.stderr.write(
      `Restore refused: ${e.code === 'ENOENT' ? `no such file: ${e.path ?? args[0]}` : e.message}\n`,
    );
  } else if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    process.stderr.write(`No hub is running with data directory ${dataDir} (set AYI_DATA_DIR).\n`);
  } else {
    process.stderr.write(`${e.message}\n`);
  }
  process.exit(1);
}

/**
 * `ayi restore <file>`: refused while a hub answers on the data directory's socket (it would write
 * over files the hub holds open); the passphrase from the settings, never the command line.
 */
async function restore(restoreArgs: string[]): Promise<void> {
  const [file, ...extra] = restoreArgs;
  if (!file || extra.length > 0) throw new Error('usage: restore <backup file>');
  if (await hubAnswers(socketPath)) {
    throw new Error(
      `The hub is running on ${dataDir}: stop it first (sudo systemctl stop ayi-hub), then restore, then start it ` +
        '(sudo systemctl start ayi-hub). Nothing was changed.',
    );
  }
  // A mistyped name is said as such, before the passphrase is looked for.
  await access(path.resolve(file));
  const passphrase = await readPassphrase({
    backupPassphrase: setting('AYI_BACKUP_PASSPHRASE'),
    backupPassphraseFile: setting('AYI_BACKUP_PASSPHRASE_FILE'),
  });
  const result = await restoreBackup({
    file: path.resolve(file),
    dataDir,
    passphrase,
    expectedStore: { chainId: setting('AYI_CHAIN_ID'), storeId: setting('AYI_STORE_ID') },
  });
  process.stdout.write(
    [
      `Restored ${result.chainId}/${result.storeId} from the backup of ${result.backupCreatedAt} (events up to seq ${result.seq}) into ${result.dataDir}.`,
      `New epoch ${result.epoch} (was ${result.previousEpoch}): the store records from seq ${result.seq + 1} on under it.`,
      result.movedAsideTo
        ? `What the data directory held is in ${result.movedAsideTo} (nothing was deleted).`
        : 'The data directory was empty.',
      'Start the hub: sudo systemctl start ayi-hub',
      '',
    ].join('\n'),
  );
}

function hubAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.createConnection(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/** AYI_DATA_DIR, else the installed settings' (as the service runs with), else ./data. */
function findDataDir(): string {
  const value = setting('AYI_DATA_DIR');
  if (value !== null) return path.resolve(value);
  // No settings file at all: a checkout. Settings without AYI_DATA_DIR: the unit's own default.
  return settingsText() === null ? path.resolve('./data') : path.resolve('/var/lib/ayi');
}

/** The installed settings (AYI_SETTINGS_FILE, else /etc/ayi/hub.env), or null when there are none. */
function settingsText(): string | null {
  if (settingsCache !== undefined) return settingsCache;
  const settingsFile = settingsFileName();
  try {
    settingsCache = readFileSync(settingsFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') {
      process.stderr.write(`Cannot read ${settingsFile} for the hub's settings: run this with sudo.\n`);
      process.exit(1);
    }
    settingsCache = null;
  }
  return settingsCache;
}

function settingsFileName(): string {
  return process.env.AYI_SETTINGS_FILE ?? '/etc/ayi/hub.env';
}

/** A setting from the environment, else from the installed settings; null when neither has it. */
function setting(name: string): string | null {
  const fromEnv = process.env[name];
  if (fromEnv) return fromEnv;
  const settings = settingsText();
  if (settings === null) return null;
  // systemd's EnvironmentFile syntax, as far as these settings need: KEY=VALUE, quotes optional.
  const line = new RegExp(`^\\s*${name}\\s*=\\s*(.*?)\\s*$`, 'm').exec(settings);
  const value = line?.[1]?.replace(/^(["'])(.*)\1$/, '$2');
  return value || null;
}
