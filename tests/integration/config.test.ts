/**
 * Configuration mistakes a technician can make, each reported by the variable's name, and a data
 * directory that belongs to another store, which the hub refuses to open.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../hub/src/config/config.ts';
import { startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('takes AYI_PUBLIC_URL for the pairing QR code: an origin whose host name the hub answers to', () => {
    expect(loadConfig({}).publicUrl).toBeNull();
    expect(loadConfig({ AYI_PUBLIC_URL: 'http://192.168.1.20:8080' }).publicUrl).toBe('http://192.168.1.20:8080');
    expect(
      loadConfig({ AYI_PUBLIC_URL: 'http://ayi-store.lan:8080', AYI_ALLOWED_HOSTS: 'ayi-store.lan' }).publicUrl,
    ).toBe('http://ayi-store.lan:8080');
    expect(configError({ AYI_PUBLIC_URL: 'http://ayi-store.lan:8080' }).problems).toEqual([
      'publicUrl (AYI_PUBLIC_URL): the hub answers to ayi-store.lan only once it is in AYI_ALLOWED_HOSTS too (a tablet opening the pairing QR would be refused)',
    ]);
    expect(configError({ AYI_PUBLIC_URL: 'http://192.168.1.20:8080/pair' }).problems[0]).toMatch(
      /^publicUrl \(AYI_PUBLIC_URL\): scheme, host and port only/,
    );
    expect(configError({ AYI_PUBLIC_URL: '192.168.1.20' }).problems[0]).toMatch(/^publicUrl \(AYI_PUBLIC_URL\)/);
  });

  it('reads AYI_* variables over the defaults', () => {
    const config = loadConfig({
      AYI_PORT: '9090',
      AYI_STORE_ID: 'store-042',
      AYI_TZ: 'Asia/Tokyo',
      AYI_DEMO: 'false',
      AYI_DATA_DIR: 'rel/data',
    });
    expect(config).toMatchObject({ port: 9090, storeId: 'store-042', tz: 'Asia/Tokyo', demo: false });
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(loadConfig({}).tz).toBe('Asia/Taipei');
  });

  it('seeds the demo history unless AYI_DEMO_HISTORY is off', () => {
    expect(loadConfig({}).demoHistory).toBe(true);
    expect(loadConfig({ AYI_DEMO_HISTORY: 'off' }).demoHistory).toBe(false);
    expect(loadConfig({ AYI_DEMO_HISTORY: 'on' }).demoHistory).toBe(true);
  });

  it.each([
    ['AYI_PORT', 'eighty'],
    ['AYI_PORT', '70000'],
    ['AYI_PORT', '-1'],
    ['AYI_TZ', 'Asia/Taipie'],
    ['AYI_TZ', 'UTC+8'],
    ['AYI_STORE_ID', 'Store 1'],
    ['AYI_STORE_ID', ''],
    ['AYI_STORE_ID', '../other-store'],
    ['AYI_DEMO_HISTORY', 'maybe'],
  ])('names %s when it is %j', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.problems.length).toBeGreaterThanOrEqual(1);
    expect(err.problems.every((p) => p.includes(name))).toBe(true);
    expect(err.message).toContain(name);
  });

  it('reports every bad variable at once', () => {
    const err = configError({ AYI_PORT: 'abc', AYI_TZ: 'Mars/Olympus', AYI_STORE_ID: 'STORE!' });
    for (const name of ['AYI_PORT', 'AYI_TZ', 'AYI_STORE_ID']) {
      expect(
        err.problems.filter((p) => p.includes(name)),
        name,
      ).not.toHaveLength(0);
    }
    expect(err.message).toContain('Mars/Olympus');
  });

  it('reports an unreadable AYI_CONFIG file by name', () => {
    const file = path.join(temp.make('ayi-config-'), 'hub.json');
    writeFileSync(file, '{ "port": 8080, ');
    const err = configError({ AYI_CONFIG: file });
    expect(err.problems[0]).toContain('AYI_CONFIG');
  });
});

describe('a data directory of another store', () => {
  it('is refused at start-up with a message naming both stores', async () => {
    const dataDir = temp.make('ayi-config-');
    const hub = await startTestHub({ dataDir, config: { storeId: 'store-001' } });
    await hub.stop();

    const attempt = startTestHub({ dataDir, config: { storeId: 'store-002' } });
    await expect(attempt).rejects.toThrow(/belongs to store demo\/store-001, not demo\/store-002/);
    // it did not take over the directory: the right store still starts there
    expect(existsSync(path.join(dataDir, 'ayi.sock'))).toBe(false);
    const again = await startTestHub({ dataDir, config: { storeId: 'store-001' } });
    await again.stop();
  });

  it('is refused for another chain too', async () => {
    const dataDir = temp.make('ayi-config-');
    const hub = await startTestHub({ dataDir });
    await hub.stop();
    await expect(startTestHub({ dataDir, config: { chainId: 'other-chain' } })).rejects.toThrow(/other-chain/);
  });
});

describe('SMS settings', () => {
  it('default to the console provider', () => {
    expect(loadConfig({})).toMatchObject({
      smsProvider: 'console',
      smsHttpUrl: null,
      smsHttpAuthHeader: null,
      smsHttpBodyTemplate: '{"to":"{{to}}","text":"{{text}}"}',
      smsHttpTimeoutMs: 10_000,
    });
  });

  it('read the HTTP provider from AYI_SMS_*', () => {
    const config = loadConfig({
      AYI_SMS_PROVIDER: 'http',
      AYI_SMS_HTTP_URL: 'https://sms.example.com/v1/send',
      AYI_SMS_HTTP_AUTH: 'Authorization: Bearer xyz',
      AYI_SMS_HTTP_BODY: '{"phone":"{{to}}","message":"{{text}}","ref":"{{messageId}}"}',
      AYI_SMS_HTTP_TIMEOUT_MS: '5000',
    });
    expect(config).toMatchObject({
      smsProvider: 'http',
      smsHttpUrl: 'https://sms.example.com/v1/send',
      smsHttpAuthHeader: 'Authorization: Bearer xyz',
      smsHttpBodyTemplate: '{"phone":"{{to}}","message":"{{text}}","ref":"{{messageId}}"}',
      smsHttpTimeoutMs: 5000,
    });
  });

  it('need a URL for the http provider', () => {
    const err = configError({ AYI_SMS_PROVIDER: 'http' });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain('AYI_SMS_HTTP_URL');
    expect(err.problems[0]).toContain('required');
  });

  it('name a bad provider, URL, auth header or body template, without showing secrets', () => {
    expect(configError({ AYI_SMS_PROVIDER: 'twilio' }).message).toContain('AYI_SMS_PROVIDER');
    const err = configError({
      AYI_SMS_PROVIDER: 'http',
      AYI_SMS_HTTP_URL: 'ftp://sms.example.com/?key=topsecret1',
      AYI_SMS_HTTP_AUTH: 'Bearer topsecret2',
      AYI_SMS_HTTP_BODY: '{"to":{{to}},"text":"{{text}}"}',
    });
    for (const name of ['AYI_SMS_HTTP_URL', 'AYI_SMS_HTTP_AUTH', 'AYI_SMS_HTTP_BODY']) {
      expect(
        err.problems.filter((p) => p.includes(name)),
        name,
      ).toHaveLength(1);
    }
    expect(err.message).not.toContain('topsecret');
  });
});
