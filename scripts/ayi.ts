/**
 * The technician's command line for a running hub on this machine:
 *   npm run ayi -- pair                      a new pairing code for a tablet (10 minutes)
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
 *   npm run ayi -- health
 *   npm run ayi -- hardware                  printers and scanners: connected, paper, queue, last error
 *   npm run ayi -- discover                  USB printers, USB keyboard scanners and USB-COM ports plugged
 *                                            in, each with a devices.json entry to start from
 * It talks to the hub through the socket in its data directory: AYI_DATA_DIR when set, else the one
 * the installed settings name (AYI_DATA_DIR in /etc/ayi/hub.env, the file the systemd unit reads;
 * AYI_SETTINGS_FILE names another), else ./data (a checkout).
 * PINs are never arguments (they would stay in the shell's history and show in `ps`): they are typed
 * at a prompt that does not echo them, twice, or read from the first line of stdin when it is not a
 * terminal (`printf '583920\n' | npm run ayi -- set-pin stf-…`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readPin } from './read-pin.ts';
import { adminRequest } from '../hub/src/transport/admin/admin.client.ts';

const [command, ...args] = process.argv.slice(2);
if (!command || command === 'help' || command === '--help') {
  process.stdout.write(
    'usage: npm run ayi -- <pair|devices|revoke ID|unlock ID|unlock all|staff|add-staff NAME ROLE|set-pin STAFF_ID|remove-staff STAFF_ID|snapshot|health|hardware|discover>\n',
  );
  process.exit(command ? 0 : 2);
}
const dataDir = findDataDir();
const socketPath = path.join(dataDir, 'ayi.sock');

/** Commands that set a PIN, and how many arguments come before it. */
const PIN_AFTER: Record<string, number> = { 'add-staff': 2, 'set-pin': 1 };

try {
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
  const result = await adminRequest(socketPath, command, args);
  if (command === 'pair') {
    const { code, expiresAt } = result as { code: string; expiresAt: string };
    process.stdout.write(`Pairing code: ${code} (valid until ${expiresAt})\n`);
  } else {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
    process.stderr.write(`No hub is running with data directory ${dataDir} (set AYI_DATA_DIR).\n`);
  } else {
    process.stderr.write(`${e.message}\n`);
  }
  process.exit(1);
}

/** AYI_DATA_DIR, else the installed settings' (as the service runs with), else ./data. */
function findDataDir(): string {
  if (process.env.AYI_DATA_DIR) return path.resolve(process.env.AYI_DATA_DIR);
  const settingsFile = process.env.AYI_SETTINGS_FILE ?? '/etc/ayi/hub.env';
  let settings: string;
  try {
    settings = readFileSync(settingsFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') {
      process.stderr.write(`Cannot read ${settingsFile} for the data directory: run this with sudo.\n`);
      process.exit(1);
    }
    return path.resolve('./data');
  }
  // systemd's EnvironmentFile syntax, as far as the data directory needs: KEY=VALUE, quotes optional.
  const line = /^\s*AYI_DATA_DIR\s*=\s*(.*?)\s*$/m.exec(settings);
  const value = line?.[1]?.replace(/^(["'])(.*)\1$/, '$2');
  // The unit's own default when the settings do not name one.
  return path.resolve(value || '/var/lib/ayi');
}
