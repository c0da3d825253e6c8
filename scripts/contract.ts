/**
 * Writes the MQTT contract for HQ from the TypeBox schemas in hub/src/protocol/event-schemas.ts:
 *
 *   npm run contract              regenerate hub/docs/contract/ (*.json and asyncapi.yaml)
 *   npm run contract -- --check   exit 1 (and name the files) when the committed files are stale
 *
 * One JSON Schema (draft-07) file per event type (the whole envelope with that type's payload), the
 * envelope alone, the retained status and the commands, and the AsyncAPI 3.0 document that names
 * them (channels from hub/src/transport/mqtt/topics.ts, summaries from EVENT_DESCRIPTIONS). Every
 * file is self-contained: a recursive schema (SegmentNode) becomes a local `#/definitions/...`, so
 * any draft-07 validator and the AsyncAPI parser resolve it. Exit status 0 when the files are (now)
 * up to date, 1 for stale files with --check, 2 for bad arguments.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TSchema } from '@sinclair/typebox';
import * as prettier from 'prettier';
import {
  CatalogVersionSchema,
  CommandResultSchema,
  EVENT_DESCRIPTIONS,
  EVENT_TYPES,
  EventEnvelopeSchema,
  LinkStatusSchema,
  PingCommandSchema,
  ResendCommandSchema,
  RestoreCommandSchema,
  eventSchema,
} from '../hub/src/protocol/event-schemas.ts';
import { storeTopics } from '../hub/src/transport/mqtt/topics.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..');
export const CONTRACT_DIR = path.join(REPO_ROOT, 'hub', 'docs', 'contract');
const JSON_SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';
export const ASYNCAPI_FILE = 'asyncapi.yaml';

const USAGE = `usage: npm run contract -- [--check]

  --check   compare hub/docs/contract/ with what the schemas generate; write nothing
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
  schemas.set('cmd-restore.json', RestoreCommandSchema);
  schemas.set('cmd-result.json', CommandResultSchema);
  schemas.set('catalog.json', CatalogVersionSchema);
  return schemas;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A schema as a self-contained draft-07 document. TypeBox writes a recursive schema as
 * `{$id: 'SegmentNode', ...}` where it is used and `{$ref: 'SegmentNode'}` inside it; a bare name is
 * a relative URI that validators and the AsyncAPI parser try to load as a file. Each such schema
 * moves to `definitions` and every use of it becomes `{$ref: '#/definitions/<name>'}`.
 */
export function selfContained(name: string, schema: TSchema): Record<string, Json> {
  // JSON.stringify drops TypeBox's symbol keys: what is left is plain JSON Schema.
  const plain = JSON.parse(JSON.stringify(schema)) as Record<string, Json>;
  const definitions: Record<string, Json> = {};
  const named = new Set<string>();
  const collect = (node: Json) => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (node !== null && typeof node === 'object') {
      if (node !== plain && typeof node.$id === 'string') named.add(node.$id);
      Object.values(node).forEach(collect);
    }
  };
  collect(plain);
  const local = (id: string) => `#/definitions/${id}`;
  const rewrite = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== 'object') return node;
    if (typeof node.$ref === 'string' && named.has(node.$ref)) return { ...node, $ref: local(node.$ref) };
    const { $id, ...rest } = node;
    const out = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, rewrite(value)]));
    if (typeof $id === 'string' && named.has($id)) {
      definitions[$id] = out;
      return { $ref: local($id) };
    }
    return $id === undefined ? out : { $id, ...out };
  };
  const body = rewrite(plain) as Record<string, Json>;
  return {
    $schema: JSON_SCHEMA_DRAFT,
    $id: name,
    ...body,
    ...(Object.keys(definitions).length > 0 ? { definitions } : {}),
  };
}

const messageKey = (name: string) => name.replace(/[^A-Za-z0-9]+/g, '_');
const ref = (pointer: string) => ({ $ref: pointer });
/** A payload given as the JSON Schema draft-07 file beside the document. */
const payload = (file: string) => ({
  schemaFormat: 'application/schema+json;version=draft-07',
  schema: ref(`./${file}`),
});

/** The AsyncAPI 3.0 document: the channels, operations and messages of the link, payloads by file. */
export function asyncApiDocument(): Record<string, Json> {
  const topics = storeTopics('{chainId}', '{storeId}');
  const parameters = {
    chainId: ref('#/components/parameters/chainId'),
    storeId: ref('#/components/parameters/storeId'),
  };
  const eventMessages: Record<string, Json> = {};
  for (const type of EVENT_TYPES) {
    eventMessages[messageKey(type)] = {
      name: type,
      title: type,
      summary: EVENT_DESCRIPTIONS[type],
      payload: payload(`${type}.json`),
    };
  }
  const description = (schema: TSchema) => String(schema.description ?? '');
  // Bindings: MQTT's QoS and retain flag belong to operations (the message binding has neither).
  const qos1 = { mqtt: { qos: 1 } };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Ayi store hub to HQ',
      version: '1.0.0',
      description:
        "What every store's hub publishes to HQ's MQTT broker, and the commands HQ may send back.\n" +
        'Events are `ayi.event/1` envelopes, one per message, QoS 1, in seq order per store; delivery is\n' +
        'at least once: dedupe by (storeId, eventId), detect gaps by seq within an epoch, ask for a\n' +
        '`resend` to fill one. See hub/docs/hq.md. This document and the JSON Schema files beside it are\n' +
        'generated from hub/src/protocol/event-schemas.ts (`npm run contract`); do not edit them by hand.\n',
    },
    defaultContentType: 'application/json',
    servers: {
      hq: {
        host: 'hq.example.com:8883',
        protocol: 'mqtt',
        protocolVersion: '5',
        description: "HQ's broker, TLS, a user per store (acl.conf in firmware-config/mosquitto).",
        security: [ref('#/components/securitySchemes/userPassword')],
      },
    },
    channels: {
      events: {
        address: topics.events,
        title: 'Journal events',
        description: 'Every journal event of one store, in seq order, QoS 1, not retained.',
        parameters,
        messages: Object.fromEntries(
          EVENT_TYPES.map((type) => [messageKey(type), ref(`#/components/messages/${messageKey(type)}`)]),
        ),
      },
      status: {
        address: topics.status,
        title: 'Link status (retained)',
        description: 'online when the hub connects; offline as its last will or at a clean shutdown.',
        parameters,
        messages: { status: ref('#/components/messages/status') },
      },
      cmdResend: {
        address: `${topics.root}/cmd/resend`,
        title: 'Resend command',
        parameters,
        messages: { resend: ref('#/components/messages/resend') },
      },
      cmdPing: {
        address: `${topics.root}/cmd/ping`,
        title: 'Ping command',
        parameters,
        messages: { ping: ref('#/components/messages/ping') },
      },
      cmdRestore: {
        address: `${topics.root}/cmd/restore`,
        title: 'Restore command',
        parameters,
        messages: { restore: ref('#/components/messages/restore') },
      },
      cmdResult: {
        address: topics.commandResult,
        title: 'Command results',
        parameters,
        messages: { cmdResult: ref('#/components/messages/cmdResult') },
      },
      catalog: {
        address: topics.catalog,
        title: "The chain's catalog (retained)",
        description:
          "HQ's latest catalog version for every store of the chain, retained: a store that was offline gets it when it connects.",
        parameters: { chainId: parameters.chainId },
        messages: { catalog: ref('#/components/messages/catalog') },
      },
    },
    operations: {
      receiveEvents: {
        action: 'receive',
        channel: ref('#/channels/events'),
        summary:
          'HQ receives every event of every store (subscribe to ayi/v1/{chainId}/+/events, QoS 1, persistent session).',
        bindings: qos1,
      },
      receiveStatus: {
        action: 'receive',
        channel: ref('#/channels/status'),
        summary: "HQ follows each store's link state.",
        bindings: { mqtt: { qos: 1, retain: true } },
      },
      sendResend: {
        action: 'send',
        channel: ref('#/channels/cmdResend'),
        summary: 'HQ asks a store to publish its events again from a seq (to fill a gap).',
        bindings: qos1,
        reply: { channel: ref('#/channels/cmdResult') },
      },
      sendPing: {
        action: 'send',
        channel: ref('#/channels/cmdPing'),
        summary: "HQ checks that a store's hub answers, with its live lastSeq, deliveredSeq and backlog.",
        bindings: qos1,
        reply: { channel: ref('#/channels/cmdResult') },
      },
      sendCatalog: {
        action: 'send',
        channel: ref('#/channels/catalog'),
        summary:
          "HQ publishes a catalog version for the chain's stores (retained); each store applies a version above the one it runs and reports it in its status (catalogVersion).",
        bindings: { mqtt: { qos: 1, retain: true } },
      },
      sendRestore: {
        action: 'send',
        channel: ref('#/channels/cmdRestore'),
        summary:
          "HQ gives a store back, from its own copy, events of seqs the store's journal lacks (named in its status or a resend's answer).",
        bindings: qos1,
        reply: { channel: ref('#/channels/cmdResult') },
      },
    },
    components: {
      securitySchemes: {
        userPassword: {
          type: 'userPassword',
          description: "A broker user per store, named <chainId>/<storeId>; HQ's own user reads everything.",
        },
      },
      parameters: {
        chainId: { description: 'The chain (AYI_CHAIN_ID), a slug.' },
        storeId: { description: 'The store (AYI_STORE_ID), a slug.' },
      },
      messages: {
        ...eventMessages,
        status: { name: 'status', summary: description(LinkStatusSchema), payload: payload('status.json') },
        resend: { name: 'resend', summary: description(ResendCommandSchema), payload: payload('cmd-resend.json') },
        ping: { name: 'ping', summary: description(PingCommandSchema), payload: payload('cmd-ping.json') },
        restore: { name: 'restore', summary: description(RestoreCommandSchema), payload: payload('cmd-restore.json') },
        catalog: { name: 'catalog', summary: description(CatalogVersionSchema), payload: payload('catalog.json') },
        cmdResult: {
          name: 'cmd-result',
          summary: description(CommandResultSchema),
          payload: payload('cmd-result.json'),
        },
      },
    },
    'x-envelope': {
      description: 'The envelope alone (any event type, payload unchecked).',
      payload: payload('envelope.json'),
    },
  };
}

/** A YAML scalar: plain when it cannot be read as anything else, a block for text, else quoted. */
function yamlScalar(value: Json, indent: string): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  if (/^[A-Za-z_$.][\w.$/-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n|~)$/i.test(value)) return value;
  if (value.includes('\n') && !/[\r\t]/.test(value)) {
    const lines = value.replace(/\n$/, '').split('\n');
    return `|${value.endsWith('\n') ? '' : '-'}\n${lines.map((l) => (l ? `${indent}  ${l}` : '')).join('\n')}`;
  }
  return JSON.stringify(value); // a JSON string is a YAML double-quoted scalar
}

/** Block-style YAML for a JSON value (prettier tidies the quoting afterwards). */
export function toYaml(value: Json, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((item) => {
        const inner = toYaml(item, `${indent}  `);
        return `${indent}- ${inner.trimStart()}`;
      })
      .join('\n');
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    return entries
      .map(([key, item]) => {
        const k = yamlScalar(key, indent);
        if (
          item !== null &&
          typeof item === 'object' &&
          (Array.isArray(item) ? item.length : Object.keys(item).length)
        ) {
          return `${indent}${k}:\n${toYaml(item, `${indent}  `)}`;
        }
        return `${indent}${k}: ${item !== null && typeof item === 'object' ? toYaml(item) : yamlScalar(item, indent)}`;
      })
      .join('\n');
  }
  return yamlScalar(value, indent);
}

/** The text of every file, formatted as `prettier --check` expects it. */
export async function contractFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const format = async (name: string, text: string) => {
    const filepath = path.join(CONTRACT_DIR, name);
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    files.set(name, await prettier.format(text, { ...options, filepath }));
  };
  for (const [name, schema] of contractSchemas()) {
    await format(name, JSON.stringify(selfContained(name, schema), null, 2));
  }
  await format(ASYNCAPI_FILE, `${toYaml(asyncApiDocument())}\n`);
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
    present = readdirSync(dir).filter((name) => name.endsWith('.json') || name.endsWith('.yaml'));
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
    `${files.size} contract files in hub/docs/contract, ${stale.length - leftovers.length} written\n` +
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
