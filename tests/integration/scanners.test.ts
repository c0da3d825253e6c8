/**
 * USB-COM scanners end to end in process, wired by the hub itself: `devices.json` in the data
 * directory names two pseudo-terminal scanners (socat), one assigned to a paired tablet in the
 * file, one to none. The serial driver reads them, the hub's scanning service routes each scan to
 * the tablet it is assigned to over the real WebSocket, and to no other; a manager reassigns over
 * the HTTP API (journalled, so it survives a restart); unplug and replug show in the registry and
 * in `device.status`; an unassigned scanner's scans go nowhere and its codes never reach the logs.
 */
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Hub } from '../../hub/src/hub.ts';
import { freePort } from '../support/free-port.ts';
import { PtyScanner, socatAvailable } from '../support/pty-scanner.ts';
import { TabletClient, pairedTablet, startTestHub, writeDevicesFile } from '../support/test-hub.ts';
import { TempDirs } from '../support/temp-dirs.ts';
import { type TabletSocket, openTabletSocket } from '../support/ws-client.ts';

const temp = new TempDirs();
const logLines: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  }),
);

let dataDir: string;
let port: number;
let hub: Hub;
let counter: PtyScanner;
let spare: PtyScanner;
let tabletA: TabletClient;
/** Logged in as a manager (PIN 222222): may reassign scanners. */
let tabletB: TabletClient;
const sockets: TabletSocket[] = [];

/** The same data directory and port every time, so the tablets' tokens and URL stay valid. */
function start(): Promise<Hub> {
  return startTestHub({ dataDir, logger, config: { port } });
}

async function connect(tablet: TabletClient): Promise<TabletSocket> {
  const socket = await openTabletSocket(tablet);
  sockets.push(socket);
  await socket.next('hello');
  return socket;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const registry = () => hub.hardware.registry;
const connected = (scannerId: string) => registry().get(scannerId)?.connected === true;

/** PUT /api/hardware/scanners/:id/assignment as the manager on tablet B. */
async function assign(scannerId: string, deviceId: string | null): Promise<void> {
  const res = await tabletB.request('PUT', `/api/hardware/scanners/${scannerId}/assignment`, { deviceId });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body).toMatchObject({ deviceId: scannerId, assignedTo: deviceId });
}

describe.skipIf(!socatAvailable())('USB-COM scanners (pty)', () => {
  beforeAll(async () => {
    dataDir = temp.make('ayi-scanners-');
    port = await freePort();
    counter = new PtyScanner(temp.make('ayi-pty-'));
    spare = new PtyScanner(temp.make('ayi-pty-'));
    await counter.plug();
    await spare.plug();

    // The tablets are paired first (the device file names the tablet by its device id), then the
    // technician's devices.json is written and the hub started again with it.
    hub = await start();
    tabletA = await pairedTablet(hub, '1111', 'Counter 1');
    tabletB = await pairedTablet(hub, '222222', 'Counter 2');
    await hub.stop();
    writeDevicesFile(dataDir, [
      {
        id: 'counter-1',
        name: 'Counter 1',
        transport: 'serial',
        path: counter.path,
        baudRate: 9600,
        assignedTo: tabletA.deviceId,
      },
      { id: 'spare', name: 'Spare', transport: 'serial', path: spare.path, baudRate: 115_200, assignedTo: null },
    ]);
    hub = await start();
    await until(() => connected('counter-1') && connected('spare'), 'the scanners to connect');
    expect(registry().get('counter-1')?.assignedTo).toBe(tabletA.deviceId);
    expect(registry().get('spare')?.assignedTo).toBeNull();
  });
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await hub?.stop();
    await counter?.unplug();
    await spare?.unplug();
    temp.removeAll();
  });

  it('a scan reaches the assigned tablet with its AIM prefix stripped, and no other tablet', async () => {
    const a = await connect(tabletA);
    const b = await connect(tabletB);
    await counter.scan('4710000000001', ']E0');
    expect(await a.next('scan')).toEqual({
      type: 'scan',
      scannerId: 'counter-1',
      code: '4710000000001',
      symbology: ']E0',
    });
    // CR alone, LF alone, no prefix; two codes in one write.
    await counter.send('AYI0000000042\r/AB+.-9Z\n');
    expect((await a.next('scan')).code).toBe('AYI0000000042');
    expect(await a.next('scan')).toMatchObject({ code: '/AB+.-9Z', symbology: null });
    await new Promise((r) => setTimeout(r, 100));
    expect(b.received.filter((m) => m.type === 'scan')).toEqual([]);
  });

  it("goes to the tablet's newest page only, and not to a page where nobody is logged in", async () => {
    const older = await connect(tabletA);
    const newer = await connect(tabletA);
    await counter.scan('4710000000002');
    expect((await newer.next('scan')).code).toBe('4710000000002');
    await new Promise((r) => setTimeout(r, 100));
    expect(older.received.filter((m) => m.type === 'scan')).toEqual([]);

    // Tablet A's staff log out: a scan is delivered to no one on it.
    const loggedOut = new TabletClient(tabletA.baseUrl);
    loggedOut.deviceToken = tabletA.deviceToken;
    loggedOut.deviceId = tabletA.deviceId;
    const anonymous = await connect(loggedOut);
    await tabletA.request('DELETE', '/api/session');
    await counter.scan('4710000000003');
    await new Promise((r) => setTimeout(r, 200));
    for (const socket of [older, newer, anonymous]) {
      expect(socket.received.filter((m) => m.type === 'scan' && m.code === '4710000000003')).toEqual([]);
    }
    await tabletA.login('1111');
  });

  it('follows a reassignment at run time', async () => {
    const a = await connect(tabletA);
    const b = await connect(tabletB);
    await assign('counter-1', tabletB.deviceId);
    await counter.scan('BDAY10');
    expect((await b.next('scan')).code).toBe('BDAY10');

    // The assignment is journalled: after a restart the scans still go to tablet B.
    await hub.stop();
    hub = await start();
    await until(() => connected('counter-1'), 'the scanner to connect after the restart');
    expect(registry().get('counter-1')?.assignedTo).toBe(tabletB.deviceId);
    const a2 = await connect(tabletA);
    const b2 = await connect(tabletB);
    await counter.scan('BDAY11');
    expect((await b2.next('scan')).code).toBe('BDAY11');

    await assign('counter-1', tabletA.deviceId);
    await counter.scan('12345678');
    expect((await a2.next('scan')).code).toBe('12345678');
    expect(a.received.filter((m) => m.type === 'scan')).toEqual([]);
    expect(a2.received.filter((m) => m.type === 'scan').map((m) => (m as { code: string }).code)).toEqual(['12345678']);
    expect(
      [...b.received, ...b2.received].filter((m) => m.type === 'scan').map((m) => (m as { code: string }).code),
    ).toEqual(['BDAY10', 'BDAY11']);
  });

  it('notices an unplug, reconnects when the scanner is plugged back in, and reads it again', async () => {
    const a = await connect(tabletA);
    await counter.unplug();
    await until(() => !connected('counter-1'), 'the unplug to be noticed');
    expect(registry().get('counter-1')?.lastError).toMatch(/disconnected|cannot open/);
    expect(
      (await a.next('device.status', (m) => m.device.deviceId === 'counter-1' && !m.device.connected)).device.lastError,
    ).toMatch(/disconnected|cannot open/);

    await counter.plug();
    await until(() => connected('counter-1'), 'the scanner to reconnect');
    expect(registry().get('counter-1')?.lastError).toBeNull();
    expect(
      (await a.next('device.status', (m) => m.device.deviceId === 'counter-1' && m.device.connected)).device,
    ).toMatchObject({ connected: true, lastError: null, assignedTo: tabletA.deviceId });
    await counter.scan('4710000000002', ']E0');
    expect(await a.next('scan')).toMatchObject({ scannerId: 'counter-1', code: '4710000000002' });
  });

  it("an unassigned scanner's scan goes nowhere, is counted, and its code is never logged", async () => {
    const a = await connect(tabletA);
    const b = await connect(tabletB);
    await spare.scan('/ZZ9+.-X', '');
    await until(() => registry().get('spare')?.lastError !== null, 'the drop to be counted');
    expect(registry().get('spare')?.lastError).toBe('not assigned to a tablet: 1 scan dropped');
    // The assigned scanner still works meanwhile, and nothing from the spare arrives anywhere.
    await counter.scan('88888888');
    expect((await a.next('scan')).code).toBe('88888888');
    await new Promise((r) => setTimeout(r, 100));
    expect([...a.received, ...b.received].some((m) => m.type === 'scan' && m.scannerId === 'spare')).toBe(false);
    const logs = logLines.join('');
    expect(logs).toContain('scan dropped');
    for (const code of ['/ZZ9+.-X', 'AYI0000000042', '/AB+.-9Z', '4710000000001']) {
      expect(logs).not.toContain(code);
    }
  });
});
