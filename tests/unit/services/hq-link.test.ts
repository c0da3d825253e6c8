/**
 * The HQ link's pieces without a broker: the contiguous-prefix watermark, the reconnect backoff,
 * topics, the throttled watermark file, connection options (TLS files, credentials) and the MQTT
 * settings of the configuration.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../hub/src/config/config.ts';
import { hqLinkSettings } from '../../../hub/src/services/hq-link.service.ts';
import { AckTracker } from '../../../hub/src/transport/mqtt/ack-tracker.ts';
import { Backoff } from '../../../hub/src/transport/mqtt/backoff.ts';
import {
  MqttSettingsError,
  clientOptions,
  readTlsMaterial,
  redactUrl,
  type MqttLinkSettings,
} from '../../../hub/src/transport/mqtt/client-options.ts';
import { storeTopics } from '../../../hub/src/transport/mqtt/topics.ts';
import { WATERMARK_FILE, WatermarkFile } from '../../../hub/src/transport/mqtt/watermark-file.ts';
import { TempDirs } from '../../support/temp-dirs.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

describe('AckTracker', () => {
  it('moves the watermark only over a contiguous prefix of acknowledged seqs', () => {
    const acks = new AckTracker(10, '2026-01-01T00:00:00.000Z');
    expect(acks.ack(12, 'b')).toBe(0);
    expect(acks.ack(13, 'c')).toBe(0);
    expect(acks.deliveredSeq).toBe(10);
    expect(acks.pendingAcks).toBe(2);
    expect(acks.ack(11, 'a')).toBe(3);
    expect(acks.deliveredSeq).toBe(13);
    expect(acks.deliveredAt).toBe('c');
    expect(acks.pendingAcks).toBe(0);
  });

  it('ignores acknowledgements at or below the watermark (re-publishes)', () => {
    const acks = new AckTracker(5, null);
    expect(acks.ack(3, 'x')).toBe(0);
    expect(acks.ack(5, 'x')).toBe(0);
    expect(acks.deliveredSeq).toBe(5);
    expect(acks.pendingAcks).toBe(0);
  });

  it('skips seqs the journal lacks', () => {
    const acks = new AckTracker(0, null);
    acks.ack(4, 'd');
    expect(acks.skip(1, 3)).toBe(4);
    expect(acks.deliveredSeq).toBe(4);
    expect(acks.deliveredAt).toBe('d');
  });
});

describe('Backoff', () => {
  it('doubles from the minimum up to the maximum, and starts again after a reset', () => {
    const backoff = new Backoff(1000, 30_000, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => backoff.next())).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    backoff.reset();
    expect(backoff.next()).toBe(1000);
  });

  it('adds at most 20 % jitter and never exceeds the maximum', () => {
    const backoff = new Backoff(1000, 5000, () => 0.999);
    expect(backoff.next()).toBe(1200);
    for (let i = 0; i < 10; i++) expect(backoff.next()).toBeLessThanOrEqual(5000);
  });
});

describe('storeTopics', () => {
  it('names the topics of one store and recognises its commands', () => {
    const topics = storeTopics('chain-a', 'store-1');
    expect(topics.events).toBe('ayi/v1/chain-a/store-1/events');
    expect(topics.status).toBe('ayi/v1/chain-a/store-1/status');
    expect(topics.commands).toBe('ayi/v1/chain-a/store-1/cmd/+');
    expect(topics.commandResult).toBe('ayi/v1/chain-a/store-1/cmd-result');
    expect(topics.commandName('ayi/v1/chain-a/store-1/cmd/resend')).toBe('resend');
    expect(topics.commandName('ayi/v1/chain-a/store-2/cmd/resend')).toBeNull();
    expect(topics.commandName('ayi/v1/chain-a/store-1/cmd/a/b')).toBeNull();
    expect(topics.commandName('ayi/v1/chain-a/store-1/cmd/')).toBeNull();
  });
});

describe('WatermarkFile', () => {
  const data = (seq: number) => ({ epoch: 'e', deliveredSeq: seq, deliveredAt: null, updatedAt: 'now' });
  const read = (dir: string) =>
    (JSON.parse(readFileSync(path.join(dir, WATERMARK_FILE), 'utf8')) as { deliveredSeq: number }).deliveredSeq;

  it('writes at most every interval, the newest value winning, and everything on flush', async () => {
    const dir = temp.make();
    const file = new WatermarkFile(
      dir,
      (err) => {
        throw err;
      },
      200,
      1_000_000,
    );
    file.update(data(1));
    for (let seq = 2; seq <= 50; seq++) file.update(data(seq));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(read(dir)).toBe(1); // the first write went at once; the rest wait for the interval
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(read(dir)).toBe(50);
    file.update(data(60));
    await file.flush();
    expect(read(dir)).toBe(60);
    expect(await new WatermarkFile(dir, () => undefined).load()).toMatchObject({ deliveredSeq: 60 });
  });

  it('writes sooner once enough acknowledgements wait', async () => {
    const dir = temp.make();
    const file = new WatermarkFile(dir, () => undefined, 60_000, 100);
    file.update(data(1));
    await file.flush();
    file.update(data(150), 150);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(read(dir)).toBe(150);
  });

  it('treats a missing or damaged file as no watermark', async () => {
    const dir = temp.make();
    expect(await new WatermarkFile(dir, () => undefined).load()).toBeNull();
    writeFileSync(path.join(dir, WATERMARK_FILE), '{"deliv');
    const errors: Error[] = [];
    expect(await new WatermarkFile(dir, (err) => errors.push(err)).load()).toBeNull();
    expect(errors).toHaveLength(1);
  });
});

describe('connection options', () => {
  const base: MqttLinkSettings = {
    url: 'mqtts://broker.example:8883',
    username: 'store-1',
    password: 'pw',
    caFile: null,
    certFile: null,
    keyFile: null,
    keepaliveSeconds: 30,
  };

  it('reads the CA, certificate and key files', () => {
    const dir = temp.make();
    const pem = (name: string) => {
      const file = path.join(dir, name);
      writeFileSync(file, `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`);
      return file;
    };
    const tls = readTlsMaterial({ ...base, caFile: pem('ca.pem'), certFile: pem('c.pem'), keyFile: pem('k.pem') });
    expect(tls.ca?.toString()).toContain('ca.pem');
    expect(tls.cert?.toString()).toContain('c.pem');
    expect(tls.key?.toString()).toContain('k.pem');
    const options = clientOptions(base, tls, 'ayi-c-s', { topic: 't/status', payload: '{"state":"offline"}' });
    expect(options).toMatchObject({
      protocolVersion: 5,
      clientId: 'ayi-c-s',
      clean: true,
      reconnectPeriod: 0,
      username: 'store-1',
      password: 'pw',
      rejectUnauthorized: true,
      will: { topic: 't/status', qos: 1, retain: true },
    });
    expect(options.ca).toBe(tls.ca);
  });

  it('names the setting and the file it cannot read', () => {
    expect(() => readTlsMaterial({ ...base, caFile: '/nonexistent/ca.pem' })).toThrow(
      /the CA file \(AYI_MQTT_CA_FILE\) at \/nonexistent\/ca\.pem: ENOENT/,
    );
    const dir = temp.make();
    const notPem = path.join(dir, 'key.der');
    writeFileSync(notPem, Buffer.from([0x30, 0x82, 0x01]));
    expect(() => readTlsMaterial({ ...base, certFile: notPem, keyFile: notPem })).toThrow(MqttSettingsError);
    expect(() => readTlsMaterial({ ...base, certFile: notPem, keyFile: notPem })).toThrow(/not a PEM file/);
  });

  it('refuses TLS files with a plain mqtt:// URL', () => {
    const dir = temp.make();
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    expect(() => readTlsMaterial({ ...base, url: 'mqtt://broker:1883', caFile: ca })).toThrow(/mqtts:\/\//);
  });

  it('never shows credentials of a URL', () => {
    expect(redactUrl('mqtts://user:secret@broker.example:8883')).toBe('mqtts://broker.example:8883');
  });
});

describe('MQTT configuration', () => {
  it('reads the link settings from the environment', () => {
    const config = loadConfig({
      AYI_MQTT_URL: 'mqtts://hq.example:8883',
      AYI_MQTT_USERNAME: 'store-001',
      AYI_MQTT_PASSWORD: 'pw',
      AYI_MQTT_CA_FILE: '/etc/ayi/ca.pem',
      AYI_MQTT_CERT_FILE: '/etc/ayi/store.crt',
      AYI_MQTT_KEY_FILE: '/etc/ayi/store.key',
      AYI_MQTT_KEEPALIVE_S: '20',
      AYI_MQTT_INFLIGHT: '32',
      AYI_MQTT_RECONNECT_MAX_MS: '10000',
      AYI_MQTT_BACKLOG_ALERT_S: '600',
    });
    expect(hqLinkSettings(config)).toMatchObject({
      url: 'mqtts://hq.example:8883',
      username: 'store-001',
      password: 'pw',
      caFile: '/etc/ayi/ca.pem',
      certFile: '/etc/ayi/store.crt',
      keyFile: '/etc/ayi/store.key',
      keepaliveSeconds: 20,
      inflightWindow: 32,
      reconnectMinMs: 1000,
      reconnectMaxMs: 10_000,
      backlogAlertSeconds: 600,
    });
  });

  it('has defaults: no broker, a window of 64, an alert after 15 minutes', () => {
    expect(hqLinkSettings(loadConfig({}))).toMatchObject({ url: null, inflightWindow: 64, backlogAlertSeconds: 900 });
  });

  it('reports a certificate without its key, a password without a user and credentials in the URL', () => {
    let error: ConfigError | null = null;
    try {
      loadConfig({
        AYI_MQTT_URL: 'mqtt://me:secret-pw@hq.example',
        AYI_MQTT_PASSWORD: 'secret-pw',
        AYI_MQTT_CERT_FILE: '/etc/ayi/store.crt',
        AYI_MQTT_INFLIGHT: '0',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join('\n');
    expect(text).toMatch(/AYI_MQTT_PASSWORD/);
    expect(text).toMatch(/AYI_MQTT_KEY_FILE/);
    expect(text).toMatch(/AYI_MQTT_USERNAME and AYI_MQTT_PASSWORD, not in the URL/);
    expect(text).toMatch(/AYI_MQTT_INFLIGHT/);
    expect(text).not.toContain('secret-pw');
  });
});
