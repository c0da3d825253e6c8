/**
 * The link to HQ over TLS with a real mosquitto: a chain's own CA (AYI_MQTT_CA_FILE), a broker the
 * hub does not trust (refused, and the health says why), and a broker that requires client
 * certificates (AYI_MQTT_CERT_FILE / AYI_MQTT_KEY_FILE). Certificates are made with openssl.
 */
import { readFileSync } from 'node:fs';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/src/hub.ts';
import type { HubEvent } from '../../hub/src/protocol/events.ts';
import type { HqHealthView } from '../../hub/src/transport/http/app.ts';
import { MOSQUITTO_BIN, startMosquitto, type Mosquitto } from '../support/mosquitto.ts';
import { poll } from '../support/poll.ts';
import { startTestHub } from '../support/test-hub.ts';
import { TestPki, type CertificateFiles } from '../support/test-pki.ts';
import { TempDirs } from '../support/temp-dirs.ts';

const temp = new TempDirs();
const CHAIN = 'tls-chain';
const STORE = 'tls-store';
const hubs: Hub[] = [];
const brokers: Mosquitto[] = [];
let ca: CertificateFiles;
let server: CertificateFiles;
let client: CertificateFiles;
let otherCa: CertificateFiles;

/**
 * A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and a second CA the
 * hub is not told about.
 */
function makePki(): void {
  const pki = new TestPki(temp.make('ayi-pki-'));
  const validity = { days: 2 };
  ca = pki.selfSigned('ca', '/CN=Ayi test CA', validity);
  server = pki.server('server', ca, validity);
  client = pki.client('client', ca, `${CHAIN}.${STORE}`, validity);
  otherCa = pki.selfSigned('other', '/CN=Someone else', validity);
}

async function tlsBroker(requireClientCert: boolean): Promise<Mosquitto> {
  const broker = await startMosquitto({
    extraConfig: [
      `certfile ${server.cert}`,
      `keyfile ${server.key}`,
      `cafile ${ca.cert}`,
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

function waitForLink(hub: Hub, check: (hq: HqHealthView) => boolean, what: string): Promise<HqHealthView> {
  const link = async () => ((await (await fetch(`${hub.url}/api/health`)).json()) as { hq: HqHealthView }).hq;
  return poll(link, check, what, 15_000, 100);
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
      ca: readFileSync(ca.cert),
      protocolVersion: 5,
    });
    const received: HubEvent[] = [];
    hq.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString('utf8')) as HubEvent));
    await hq.subscribeAsync(`ayi/v1/${CHAIN}/${STORE}/events`, { qos: 1 });
    const hub = await hubFor(broker, { mqttCaFile: ca.cert });
    await waitForLink(hub, (s) => s.link === 'connected' && s.backlog === 0, 'the link over TLS');
    const deadline = Date.now() + 5000;
    while (received.length < hub.events.lastSeq && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(received.map((e) => e.seq)).toEqual(Array.from({ length: hub.events.lastSeq }, (_, i) => i + 1));
    await hq.endAsync();
  });

  it('refuses a broker its CA did not sign, and says why', async () => {
    const broker = await tlsBroker(false);
    const hub = await hubFor(broker, { mqttCaFile: otherCa.cert });
    const hq = await waitForLink(hub, (s) => s.lastError !== null, 'the refusal');
    expect(hq.link).not.toBe('connected');
    expect(hq.lastError).toMatch(/certificate|self.signed|verify/i);
    expect(hq.backlog).toBe(hub.events.lastSeq);
  });

  it('presents its client certificate to a broker that requires one', async () => {
    const broker = await tlsBroker(true);
    const without = await hubFor(broker, { mqttCaFile: ca.cert });
    const refused = await waitForLink(without, (s) => s.lastError !== null, 'the refusal without a client certificate');
    expect(refused.link).not.toBe('connected');
    const withCert = await hubFor(broker, {
      mqttCaFile: ca.cert,
      mqttCertFile: client.cert,
      mqttKeyFile: client.key,
    });
    await waitForLink(withCert, (s) => s.link === 'connected' && s.backlog === 0, 'the link with a client certificate');
  });
});
