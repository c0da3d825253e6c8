/**
 * The health answer as its pages document it: a technician reading hub/docs/api.md and
 * hub/docs/hq-link.md finds exactly the fields a running hub's `GET /api/health` has, no more (a
 * documented field that is not there sends them looking for nothing) and no fewer.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HealthView } from '../../hub/src/transport/http/app.ts';
import { REPO_ROOT } from '../support/hub-process.ts';
import { startTestHub } from '../support/test-hub.ts';

const docs = (name: string) => readFileSync(path.join(REPO_ROOT, 'hub', 'docs', name), 'utf8');

let hub: Hub;
let health: HealthView;

beforeAll(async () => {
  hub = await startTestHub({ config: { mqttUrl: 'mqtt://127.0.0.1:1' } });
  health = (await (await fetch(`${hub.url}/api/health`)).json()) as HealthView;
});
afterAll(async () => {
  await hub?.stop();
});

describe('the health answer as documented', () => {
  it('has the top-level fields api.md lists', () => {
    const listed = /`GET \/api\/health` \(no authentication, nothing personal\) answers\s+`\{([^}]+)\}`/.exec(
      docs('api.md'),
    );
    expect(listed, 'api.md lists the fields of GET /api/health').not.toBeNull();
    const fields = listed![1]!.split(',').map((field) => field.trim());
    expect(fields.sort()).toEqual(Object.keys(health).sort());
  });

  it('has the hq section hq-link.md shows', () => {
    const page = docs('hq-link.md');
    const section = page.slice(page.indexOf('## What the health view shows'));
    const example = /```json\n([\s\S]*?)```/.exec(section);
    expect(example, 'hq-link.md shows the hq section').not.toBeNull();
    const shown = JSON.parse(example![1]!) as Record<string, unknown>;
    expect(Object.keys(shown).sort()).toEqual(Object.keys(health.hq).sort());
    // Each documented field is explained under the example.
    for (const field of Object.keys(health.hq)) expect(section).toContain(`\`${field}\``);
  });
});
