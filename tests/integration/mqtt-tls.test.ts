/**
 * The link to HQ over TLS with a real mosquitto: a chain's own CA (AYI_MQTT_CA_FILE), a broker the
 * hub does not trust (refused, and the health says why), and a broker that requires client
 * certificates (AYI_MQTT_CERT_FILE / AYI_MQTT_KEY_FILE). Certificates are made with openssl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import { MOSQUITTO_BIN, startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { startTestHub } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const CHAIN = 'tls-chain';
const STORE = 'tls-store';
const hubs: Hub[] = [];
const brokers: Mosquitto[] = [];
let pki: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: pki, stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate signed by it. */
function makePki(): void {
  pki = temp.make('ayi-pki-');
  chmodSync(pki, 0o755); // mosquitto drops to its own user and must read its files
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Ayi test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  const sign = (name: string, subject: string, ext: string) => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(path.join(pki, `${name}.ext`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
    chmodSync(path.join(pki, `${name}.key`), 0o644);
  };
  sign('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  sign('client', `/CN=${CHAIN}.${STORE}`, 'extendedKeyUsage=clientAuth\n');
  // A second CA the hub is not told about.
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Someone else',
    '-keyout',
    'other.key',
    '-out',
    'other.crt',
  );
}

const file = (name: string) => path.join(pki, name);

async function tlsBroker(requireClientCert: boolean): Promise<Mosquitto> {
  const broker = await startMosquitto({
    extraConfig: [
      `certfile ${file('server.crt')}`,
      `keyfile ${file('server.key')}`,
      `cafile ${file('ca.crt')}`,
      `require_certificate ${requireClientCert}`,
    ],
  });
  brokers.push(broker);
  return broker;
}

async function hubFor(broker: Mosquitto, tls: Record<string, string | null>): Promise<Hub> {
  const hub = await startTestHub({
    dataDir: temp.make('ayi-mqtt-tls-'),
    config: {
      chainId: CHAIN,
      storeId: STORE,
      mqttUrl: `mqtts://127.0.0.1:${broker.port}`,
      mqttReconnectMaxMs: 1000,
      ...tls,
    },
  });
  hubs.push(hub);
  return hub;
}

async function waitForLink(hub: Hub, check: (hq: HqHealthView) => boolean, what: string): Promise<HqHealthView> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hq = ((await (await fetch(`${hub.url}/api/health`)).json()) as { hq: HqHealthView }).hq;
    if (check(hq)) return hq;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(hq)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(() => {
  makePki();
});
afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  for (const broker of brokers) await broker.kill();
  temp.removeAll();
});

describe.skipIf(!MOSQUITTO_BIN)('the link to HQ over TLS', () => {
  it("publishes over TLS to a broker whose certificate the chain's CA signed", async () => {
    const broker = await tlsBroker(false);
    const hq = await connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
      ca: readFileSync(file('ca.crt')),
      protocolVersion: 5,
    });
    const received: HubEvent[] = [];
    hq.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString('utf8')) as HubEvent));
    await hq.subscribeAsync(`ayi/v1/${CHAIN}/${STORE}/events`, { qos: 1 });
    const hub = await hubFor(broker, { mqttCaFile: file('ca.crt') });
    await waitForLink(hub, (s) => s.link === 'connected' && s.backlog === 0, 'the link over TLS');
    const deadline = Date.now() + 5000;
    while (received.length < hub.events.lastSeq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(received.map((e) => e.seq)).toEqual(Array.from({ length: hub.events.lastSeq }, (_, i) => i + 1));
    await hq.endAsync();
  });

  it('refuses a broker its CA did not sign, and says why', async () => {
    const broker = await tlsBroker(false);
    const hub = await hubFor(broker, { mqttCaFile: file('other.crt') });
    const hq = await waitForLink(hub, (s) => s.lastError !== null, 'the refusal');
    expect(hq.link).not.toBe('connected');
    expect(hq.lastError).toMatch(/certificate|self.signed|verify/i);
    expect(hq.backlog).toBe(hub.events.lastSeq);
  });

  it('presents its client certificate to a broker that requires one', async () => {
    const broker = await tlsBroker(true);
    const without = await hubFor(broker, { mqttCaFile: file('ca.crt') });
    const refused = await waitForLink(without, (s) => s.lastError !== null, 'the refusal without a client certificate');
    expect(refused.link).not.toBe('connected');
    const withCert = await hubFor(broker, {
      mqttCaFile: file('ca.crt'),
      mqttCertFile: file('client.crt'),
      mqttKeyFile: file('client.key'),
    });
    await waitForLink(withCert, (s) => s.link === 'connected' && s.backlog === 0, 'the link with a client certificate');
  });
});
