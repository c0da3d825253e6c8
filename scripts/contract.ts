/**
 * Writes the MQTT contract for HQ as JSON Schema files from the TypeBox schemas in
 * hub/src/protocol/event-schemas.ts:
 *
 *   npm run contract              regenerate hub/docs/contract/*.json
 *   npm run contract -- --check   exit 1 (and name the files) when the committed files are stale
 *
 * One file per event type (the whole envelope with that type's payload), the envelope alone, the
 * retained status and the commands. hub/docs/contract/asyncapi.yaml refers to these files and is
 * written by hand. Exit status 0 when the files are (now) up to date, 1 for stale files with --check,
 * 2 for bad arguments.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TSchema } from '@sinclair/typebox';
import * as prettier from 'prettier';
import {
  CommandResultSchema,
  EVENT_TYPES,
  EventEnvelopeSchema,
  LinkStatusSchema,
  PingCommandSchema,
  ResendCommandSchema,
  eventSchema,
} from '../hub/src/protocol/event-schemas.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const CONTRACT_DIR = path.join(REPO_ROOT, 'hub', 'docs', 'contract');
const JSON_SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';

const USAGE = `usage: npm run contract -- [--check]

  --check   compare hub/docs/contract/*.json with what the schemas generate; write nothing
  --help    this text
`;

/** File name of each schema in hub/docs/contract/, with the schema. */
export function contractSchemas(): Map<string, TSchema> {
  const schemas = new Map<string, TSchema>();
  schemas.set('envelope.json', EventEnvelopeSchema);
  for (const type of EVENT_TYPES) schemas.set(`${type}.json`, eventSchema(type));
  schemas.set('status.json', LinkStatusSchema);
  schemas.set('cmd-resend.json', ResendCommandSchema);
  schemas.set('cmd-ping.json', PingCommandSchema);
  schemas.set('cmd-result.json', CommandResultSchema);
  return schemas;
}

/** The text of every JSON file, formatted as `prettier --check` expects it. */
export async function contractFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const [name, schema] of contractSchemas()) {
    // JSON.stringify drops TypeBox's symbol keys: what is left is plain JSON Schema.
    const text = JSON.stringify({ $schema: JSON_SCHEMA_DRAFT, $id: name, ...schema }, null, 2);
    const filepath = path.join(CONTRACT_DIR, name);
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    files.set(name, await prettier.format(text, { ...options, filepath }));
  }
  return files;
}

/** Names of files that differ from what the schemas generate, are missing, or are left over. */
export async function staleContractFiles(dir = CONTRACT_DIR): Promise<string[]> {
  const expected = await contractFiles();
  const stale: string[] = [];
  for (const [name, text] of expected) {
    let current: string | null = null;
    try {
      current = readFileSync(path.join(dir, name), 'utf8');
    } catch {
      // missing
    }
    if (current !== text) stale.push(name);
  }
  let present: string[] = [];
  try {
    present = readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    // no directory yet
  }
  for (const name of present) if (!expected.has(name)) stale.push(`${name} (not generated: remove it)`);
  return stale;
}

async function main(argv: string[]): Promise<number> {
  let check = false;
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    check = values.check ?? false;
  } catch (err) {
    process.stderr.write(`${(err as Error).message.split('. To specify a positional')[0]}\n\n${USAGE}`);
    return 2;
  }

  const stale = await staleContractFiles();
  if (check) {
    if (stale.length === 0) {
      process.stdout.write('hub/docs/contract is up to date\n');
      return 0;
    }
    process.stderr.write(`stale contract files (run npm run contract):\n${stale.map((n) => `  ${n}`).join('\n')}\n`);
    return 1;
  }
  const files = await contractFiles();
  mkdirSync(CONTRACT_DIR, { recursive: true });
  for (const [name, text] of files) {
    if (stale.includes(name)) writeFileSync(path.join(CONTRACT_DIR, name), text);
  }
  const leftovers = stale.filter((n) => !files.has(n));
  process.stdout.write(
    `${files.size} schema files in hub/docs/contract, ${stale.length - leftovers.length} written\n` +
      leftovers.map((n) => `warning: ${n}\n`).join(''),
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
