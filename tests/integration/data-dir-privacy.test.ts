/**
 * Nothing the journal seals per member (number, name, birthday, gender, region, tags) sits in clear
 * anywhere in the data directory: not in snapshots, receipts, the key file's neighbours or a
 * temporary file. Every file is scanned as raw bytes, for the UTF-8 text and its JSON "\u" escapes.
 * An erased member's key is gone, so their sealed copies open to nothing; a restart from the
 * snapshot still gives staff every member's data.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { SegmentDefinition } from '../../hub/src/protocol/crm.ts';
import type { MemberCard, SignUpResult } from '../../hub/src/protocol/members.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { checkoutRequest, sell } from '../support/sales.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { type TabletClient, demoPin, pairedTablet, startTestHub } from '../support/test-hub.ts';

interface Person {
  phone: string;
  name: string;
  birthday: string;
  gender: 'female' | 'male';
  region: string;
  tags: string[];
}

const PEOPLE: Person[] = [
  {
    phone: '0912345678',
    name: '陳淑芬',
    birthday: '1987-03-14',
    gender: 'female',
    region: '澎湖縣',
    tags: ['對花生過敏', '週三固定來店'],
  },
  {
    phone: '0933221100',
    name: '黃建志',
    birthday: '1962-11-28',
    gender: 'male',
    region: '連江縣',
    tags: ['喜歡手沖咖啡'],
  },
];

/** Every way a person's values could be written down in a file. */
function clearForms(person: Person): string[] {
  const [year, month, day] = person.birthday.split('-') as [string, string, string];
  const local = person.phone;
  const national = local.slice(1);
  return [
    local,
    `+886${national}`,
    `886${national}`,
    `${local.slice(0, 4)}-${local.slice(4, 7)}-${local.slice(7)}`,
    person.name,
    person.region,
    ...person.tags,
    person.birthday,
    `${year}/${month}/${day}`,
    `${year}${month}${day}`,
    `${Number(month)}月${Number(day)}日`,
  ];
}

/** The text as UTF-8 and as JSON writes non-ASCII when asked to escape it (lower and upper hex). */
function byteForms(text: string): Buffer[] {
  const escaped = [...text].map((c) =>
    c.charCodeAt(0) < 128 ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const lower = escaped.join('');
  return [
    ...new Set([text, lower, lower.replace(/\\u([0-9a-f]{4})/g, (_m, hex: string) => `\\u${hex.toUpperCase()}`)]),
  ].map((form) => Buffer.from(form, 'utf8'));
}

/** Demographics written as a projection would write them in clear. */
const CLEAR_FIELDS = [/"birthMonth":\s*\d/, /"ageBand":\s*"/, /"gender":\s*"(female|male|other)"/, /"region":\s*"/];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    const stat = statSync(full);
    // The admin socket is no file to read.
    return stat.isDirectory() ? filesUnder(full) : stat.isFile() ? [full] : [];
  });
}

/** Every place (file and what was found) where one of these people's values sits in clear. */
function findClearValues(dataDir: string, people: Person[]): string[] {
  const needles = people.flatMap((person) =>
    clearForms(person).flatMap((text) => byteForms(text).map((bytes) => ({ text, bytes }))),
  );
  const hits: string[] = [];
  for (const file of filesUnder(dataDir)) {
    const raw = readFileSync(file);
    const name = path.relative(dataDir, file);
    for (const { text, bytes } of needles) if (raw.includes(bytes)) hits.push(`${name}: ${text}`);
    const latin = raw.toString('latin1');
    for (const pattern of CLEAR_FIELDS) if (pattern.test(latin)) hits.push(`${name}: ${pattern.source}`);
  }
  return hits;
}

const temp = new TempDirs();
// 10:00 in Taipei
const clock = new FakeClock('2026-11-22T02:00:00Z');
let dataDir: string;
let hub: Hub;
let cashier: TabletClient;
let manager: TabletClient;
const members: SignUpResult['member'][] = [];

async function signUpWithProfile(person: Person): Promise<SignUpResult['member']> {
  const res = await cashier.request('POST', '/api/members', { phone: person.phone, consent: { sms: true } });
  expect(res.status).toBe(201);
  const { member } = res.body as unknown as SignUpResult;
  const { name, birthday, gender, region } = person;
  expect(
    (await cashier.request('PATCH', `/api/members/${member.memberId}`, { name, birthday, gender, region })).status,
  ).toBe(200);
  for (const tag of person.tags) {
    expect((await cashier.request('POST', `/api/members/${member.memberId}/tags`, { tag })).status).toBe(200);
  }
  return member;
}

const card = async (memberId: string) =>
  (await manager.request('GET', `/api/members/${memberId}/card`)).body as unknown as MemberCard;

/** Members the filter finds by the demographics and tags a snapshot carries. */
async function countByTraits(person: Person): Promise<number> {
  const definition: SegmentDefinition = {
    version: 1,
    root: {
      op: 'and',
      items: [
        { field: 'region', values: [person.region] },
        { field: 'gender', values: [person.gender] },
        { field: 'birthMonth', month: Number(person.birthday.slice(5, 7)) },
        { field: 'tags', match: 'all', values: person.tags },
      ],
    },
  };
  const res = await manager.request('POST', '/api/segments/preview', { definition, limit: 0 });
  expect(res.status).toBe(200);
  return res.body.count as number;
}

beforeAll(async () => {
  dataDir = temp.make();
  hub = await startTestHub({ dataDir, clock: clock.now });
  cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
  manager = await pairedTablet(hub, demoPin('manager'), 'Back office');
  for (const person of PEOPLE) members.push(await signUpWithProfile(person));
  // A member's sale prints a receipt into the data directory too.
  await sell(
    cashier,
    checkoutRequest([{ sku: 'DRK-001', qty: 2 }], [{ type: 'cash', amount: 100 }], { memberId: members[0]!.memberId }),
  );
});
afterAll(async () => {
  await hub.stop();
  temp.removeAll();
});

describe('members’ personal data in the data directory', () => {
  it('the scan finds a value written in clear (it can fail)', () => {
    const probe: Person = { ...PEOPLE[0]!, tags: ['cashier'] };
    expect(findClearValues(dataDir, [probe]).some((hit) => hit.endsWith(': cashier'))).toBe(true);
  });

  it('no file holds a member’s number, name, birthday, gender, region or tags in clear after a snapshot', async () => {
    await hub.snapshots.take();
    const snapshots = readdirSync(path.join(dataDir, 'snapshots')).filter((f) => f.startsWith('snapshot-'));
    expect(snapshots.length).toBeGreaterThan(0);
    expect(findClearValues(dataDir, PEOPLE)).toEqual([]);
  });

  it('an erased member’s key is gone, so nothing of theirs can be read, and still nothing is in clear', async () => {
    const erased = members[1]!;
    const res = await manager.request('POST', `/api/members/${erased.memberId}/erase`, {
      confirmMemberCode: erased.memberCode,
    });
    expect(res.status).toBe(204);
    const keys = readFileSync(path.join(dataDir, 'members', 'keys.jsonl'), 'utf8');
    expect(keys).not.toContain(erased.memberId);
    expect(keys).toContain(members[0]!.memberId);
    expect(findClearValues(dataDir, PEOPLE)).toEqual([]);
  });

  it('a restart from the snapshot gives staff every member’s data back', async () => {
    await hub.snapshots.take();
    const snapshotSeq = hub.state.lastSeq;
    await hub.stop();
    hub = await startTestHub({ dataDir, clock: clock.now });
    expect(hub.startup).toMatchObject({ snapshotSeq, replayedEvents: 0 });
    cashier = await pairedTablet(hub, demoPin('cashier'), 'Counter');
    manager = await pairedTablet(hub, demoPin('manager'), 'Back office');

    const kept = PEOPLE[0]!;
    expect(await card(members[0]!.memberId)).toMatchObject({
      name: kept.name,
      birthday: kept.birthday,
      gender: kept.gender,
      region: kept.region,
      tags: kept.tags.map((tag) => ({ tag, source: 'staff' })),
    });
    expect(await countByTraits(kept)).toBe(1);
    expect(await countByTraits(PEOPLE[1]!)).toBe(0);
    expect(findClearValues(dataDir, PEOPLE)).toEqual([]);
  });
});
