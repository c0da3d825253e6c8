/**
 * `ayi check-settings` (what scripts/provision runs before it writes anything) on real certificate
 * files made by openssl: an expired certificate, a key of another certificate and a short member key
 * are refused with the reason; a good set passes. The broker's CONNECT is the provisioning test's.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSettings, parseSettings } from '../../../scripts/lib/settings-check.ts';
import { TempDirs } from '../../support/temp-dirs.ts';
import { TestPki, type CertificateFiles } from '../../support/test-pki.ts';

const temp = new TempDirs();
const memberKey = randomBytes(32).toString('base64');
const base = `AYI_CHAIN_ID=acme\nAYI_STORE_ID=taipei-daan-01\nAYI_STORE_NAME=阿姨的店 大安店\nAYI_TZ=Asia/Taipei\n`;
let good: CertificateFiles;
let expired: CertificateFiles;

beforeAll(() => {
  // Self-signed certificates valid between two dates.
  const pki = new TestPki(temp.make('ayi-settings-check-'));
  const from = new Date('2020-01-01T00:00:00Z');
  good = pki.selfSigned('good', '/CN=good', { from, until: new Date('2099-12-31T00:00:00Z') });
  expired = pki.selfSigned('expired', '/CN=expired', { from, until: new Date('2021-01-01T00:00:00Z') });
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
