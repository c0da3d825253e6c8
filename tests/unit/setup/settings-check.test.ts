/**
 * `ayi check-settings` (what scripts/provision runs before it writes anything) on real certificate
 * files made by openssl: an expired certificate, a key of another certificate and a short member key
 * are refused with the reason; a good set passes. The broker's CONNECT is the provisioning test's.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSettings, parseSettings } from '../../../scripts/lib/settings-check.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
let dir = '';

/** A self-signed certificate valid between two dates, and its key. */
function certificate(name: string, start: string, end: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.pem`);
  const db = path.join(dir, `${name}-db`);
  mkdirSync(db);
  writeFileSync(path.join(db, 'index.txt'), '');
  writeFileSync(path.join(db, 'serial'), '01\n');
  const config = path.join(db, 'ca.cnf');
  writeFileSync(
    config,
    `[ca]\ndefault_ca=d\n[d]\ndatabase=${db}/index.txt\nserial=${db}/serial\nnew_certs_dir=${db}\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`,
  );
  const quiet = { stdio: 'ignore' } as const;
  execFileSync(
    'openssl',
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${name}`,
    ],
    quiet,
  );
  execFileSync(
    'openssl',
    [
      'ca',
      '-batch',
      '-config',
      config,
      '-selfsign',
      '-keyfile',
      key,
      '-in',
      csr,
      '-out',
      cert,
      '-startdate',
      start,
      '-enddate',
      end,
    ],
    quiet,
  );
  return { cert, key };
}

const memberKey = randomBytes(32).toString('base64');
const base = `AYI_CHAIN_ID=acme\nAYI_STORE_ID=taipei-daan-01\nAYI_STORE_NAME=阿姨的店 大安店\nAYI_TZ=Asia/Taipei\n`;
let good: { cert: string; key: string };
let expired: { cert: string; key: string };

beforeAll(() => {
  dir = temp.make('ayi-settings-check-');
  good = certificate('good', '20200101000000Z', '20991231000000Z');
  expired = certificate('expired', '20200101000000Z', '20210101000000Z');
});
afterAll(() => temp.removeAll());

describe('checking a store settings file', () => {
  it('passes good settings with a valid client certificate and its key', async () => {
    const { problems, notes } = await checkSettings(
      parseSettings(
        `${base}AYI_MEMBER_HASH_KEY=${memberKey}\nAYI_MQTT_CERT_FILE=${good.cert}\nAYI_MQTT_KEY_FILE=${good.key}\n`,
      ),
    );
    expect(problems).toEqual([]);
    expect(notes).toContainEqual(
      expect.stringMatching(/^the client certificate: valid until 2099-12-31 \(\d+ days\)$/),
    );
  });

  it('refuses an expired certificate, a key of another certificate and a short member key, saying which', async () => {
    const { problems } = await checkSettings(
      parseSettings(
        `${base}AYI_MEMBER_HASH_KEY=${randomBytes(16).toString('base64')}\nAYI_MQTT_CA_FILE=${expired.cert}\n` +
          `AYI_MQTT_CERT_FILE=${good.cert}\nAYI_MQTT_KEY_FILE=${expired.key}\nAYI_STORE_NAM=typo\n`,
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'AYI_STORE_NAM: not a setting of the hub (a typo?)',
        'the CA certificate (AYI_MQTT_CA_FILE) expired on 2021-01-01: ask HQ for a new one',
        'AYI_MQTT_KEY_FILE: the client key does not belong to the client certificate',
        expect.stringMatching(/^AYI_MEMBER_HASH_KEY: the chain's member key is 16 bytes; it needs 32 or more/),
      ]),
    );
    expect(problems.join('\n')).not.toContain(memberKey);
  });

  it('names a missing member key', async () => {
    const { problems } = await checkSettings(parseSettings(base));
    expect(problems).toEqual([expect.stringContaining("AYI_MEMBER_HASH_KEY: the chain's member key is missing")]);
  });
});
