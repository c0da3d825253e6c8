/**
 * The contract as HQ's tools read it: hub/docs/contract/asyncapi.yaml goes through the AsyncAPI
 * project's own parser (@asyncapi/parser, the one its generator and Studio use), which also loads
 * every JSON Schema file the document refers to. Any diagnostic of severity error or warning fails
 * the test and is named with its path. The recursive segment definition must resolve, in the
 * AsyncAPI document and in the JSON Schema files on their own (a draft-07 validator loads each file
 * by itself: every $ref must point inside it).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DiagnosticSeverity, Parser, fromFile, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../../hub/src/protocol/event-schemas.ts';
import { ASYNCAPI_FILE, CONTRACT_DIR, contractSchemas } from '../../../scripts/contract.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

let document: AsyncAPIDocumentInterface | undefined;
let problems: string[];

beforeAll(async () => {
  const parsed = await fromFile(new Parser(), path.join(CONTRACT_DIR, ASYNCAPI_FILE)).parse();
  document = parsed.document;
  problems = parsed.diagnostics
    .filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)
    .map((d) => `${DiagnosticSeverity[d.severity]} ${d.code} at ${d.path.join('/') || '/'}: ${d.message}`);
}, 30_000);

/** Follows a JSON pointer such as `#/definitions/SegmentNode` inside one document. */
function resolvePointer(root: Json, pointer: string): Json | undefined {
  let node: Json | undefined = root;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = (node as Record<string, Json>)[key];
  }
  return node;
}

function refsOf(node: Json, at = '#', found: { at: string; ref: string }[] = []) {
  if (Array.isArray(node)) node.forEach((item, i) => refsOf(item, `${at}/${i}`, found));
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push({ at, ref: value });
      else refsOf(value, `${at}/${key}`, found);
    }
  }
  return found;
}

describe('asyncapi.yaml, read by the AsyncAPI parser', () => {
  it('parses with no error and no warning', () => {
    expect(problems).toEqual([]);
    expect(document).toBeDefined();
  });

  it('offers every event type on the events channel, each with its JSON Schema as the payload', () => {
    const events = document!.channels().get('events')!;
    expect(events.address()).toBe('ayi/v1/{chainId}/{storeId}/events');
    const byName = new Map(
      events
        .messages()
        .all()
        .map((m) => [m.name(), m]),
    );
    expect([...byName.keys()].sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const payload = byName.get(type)!.payload()!.json() as { schema: { title?: string } };
      expect(payload.schema.title, type).toBe(type);
    }
  });

  it('resolves the recursive segment definition (AND / OR / NOT of conditions) in saved segments and tag rules', () => {
    for (const type of ['segment.saved', 'tag_rule.saved']) {
      const message = document!
        .allMessages()
        .all()
        .find((m) => m.name() === type)!;
      const schema = (message.payload()!.json() as { schema: Record<string, never> }).schema;
      const root = resolvePointer(schema, '#/properties/data/properties/definition/properties/root') as {
        anyOf: { properties: { item?: unknown; items?: { items: unknown } } }[];
      };
      expect(root.anyOf.length, type).toBeGreaterThanOrEqual(3);
      // NOT holds a node, AND / OR hold a list of nodes: the same schema, resolved.
      expect(root.anyOf[1]!.properties.item).toBe(root);
      expect(root.anyOf[0]!.properties.items!.items).toBe(root);
    }
  });

  it('puts MQTT QoS and the retain flag on operations, where the MQTT binding defines them', () => {
    const operation = (id: string) => document!.operations().get(id)!.bindings().get('mqtt')!.value();
    expect(operation('receiveEvents')).toMatchObject({ qos: 1 });
    expect(operation('receiveStatus')).toMatchObject({ qos: 1, retain: true });
  });
});

describe('the JSON Schema files, each on its own', () => {
  it('have only $refs that point inside the same file, and every one resolves', () => {
    const unresolved: string[] = [];
    let recursive = 0;
    for (const name of contractSchemas().keys()) {
      const schema = JSON.parse(readFileSync(path.join(CONTRACT_DIR, name), 'utf8')) as Json;
      for (const { at, ref } of refsOf(schema)) {
        if (!ref.startsWith('#/') || resolvePointer(schema, ref) === undefined)
          unresolved.push(`${name} ${at}: ${ref}`);
        else recursive += 1;
      }
    }
    expect(unresolved).toEqual([]);
    expect(recursive).toBeGreaterThan(0); // segment.saved and tag_rule.saved refer to their SegmentNode
  });
});
