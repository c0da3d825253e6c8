/**
 * `ayi pair --print` against a real hub process and a network receipt printer (a real socket): the
 * page the printer gets holds a QR code of `http://<box>:<port>/pair#code=<code>` (decoded from the
 * bytes it received), the store, the box's address and version; the code pairs one tablet, once.
 * A printer out of paper keeps the page queued: the command says so and fails, the code still works,
 * and the page prints once paper is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairingPageAnswer } from '../../hub/src/services/technician-commands.ts';
import { runAyi } from '../support/ayi-cli.ts';
import { decodeEscPos } from '../support/escpos-decoder.ts';
import { startHubProcess, tempDataDir, type HubProcess } from '../support/hub-process.ts';
import { poll } from '../support/poll.ts';
import { TabletClient } from '../support/test-hub.ts';
import { Virtual9100Printer } from '../support/virtual-9100-printer.ts';
import { writeNetworkPrinterFile } from '../support/test-hub.ts';

const STORE_NAME = '阿姨的店 信義門市';
const dataDir = tempDataDir('ayi-pairing-page-');
let printer: Virtual9100Printer;
let hub: HubProcess;

/** What the printer got so far, decoded as an Epson printer reads it. */
const printed = () => decodeEscPos(Uint8Array.from(printer.printed), { encoding: 'cp950', columns: 42 });

beforeAll(async () => {
  printer = await Virtual9100Printer.start();
  writeNetworkPrinterFile(dataDir, printer);
  hub = await startHubProcess({ dataDir, env: { AYI_STORE_NAME: STORE_NAME } });
});

afterAll(async () => {
  await hub?.stop();
  await printer?.close();
});

describe('ayi pair --print', () => {
  it('prints the pairing page whose QR code pairs one tablet, once', async () => {
    const run = await runAyi(['pair', '--print'], dataDir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const url = /(http:\/\/\S+\/pair#code=(\d{8}))/.exec(run.stdout);
    expect(url, run.stdout).not.toBeNull();
    const [, pairUrl, code] = url!;
    expect(pairUrl).toBe(`http://127.0.0.1:${hub.port}/pair#code=${code}`);
    expect(run.stdout).toContain(`Pairing code: ${code}`);
    expect(run.stdout).toContain('printed on "櫃台印表機"');
    // The terminal's QR code: half blocks, no colours in a pipe.
    expect(run.stdout).toMatch(/[▀▄█]{7}/);

    const page = printed();
    expect(page.qrCodes).toEqual([pairUrl]);
    const text = page.lines.join('\n');
    expect(text).toContain(STORE_NAME);
    expect(text).toContain(`配對碼 Code ${code}`);
    expect(text).toContain(`http://127.0.0.1:${hub.port}`);
    expect(text).toMatch(/版本 Version \d+\.\d+\.\d+/);
    expect(page.cuts).toBe(1);

    // The tablet opens the URL: the code is in the fragment, which its browser sends to no server.
    const tablet = new TabletClient(hub.url);
    const paired = await tablet.request('POST', '/api/pair', { code });
    expect(paired.status).toBe(201);
    expect(paired.body.name).toBe('平板 1');
    const again = await new TabletClient(hub.url).request('POST', '/api/pair', { code });
    expect(again.status).toBe(401);
    expect((again.body.error as { code: string }).code).toBe('pairing_code_invalid');
    // The next tablet paired from a QR code gets the next name.
    const second = await runAyi(['pair', '--print', '--json'], dataDir);
    const answer = JSON.parse(second.stdout) as PairingPageAnswer;
    expect(second.code).toBe(0);
    expect(answer.print).toMatchObject({ printerId: 'counter', printed: true, error: null });
    const next = await new TabletClient(hub.url).request('POST', '/api/pair', { code: answer.code });
    expect(next.body.name).toBe('平板 2');
    expect(printed().qrCodes).toEqual([pairUrl, answer.url]);
  });

  it('fails and keeps the page queued when the printer is out of paper; the code works and the page prints later', async () => {
    printer.setStatus({ paper: 'out' });
    const cutsBefore = printed().cuts;
    const run = await runAyi(['pair', '--print'], dataDir);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/queued on "櫃台印表機" \(counter\) but not printed: .*paper/i);
    const code = /Pairing code: (\d{8})/.exec(run.stdout)![1]!;
    expect(printed().cuts).toBe(cutsBefore);

    const tablet = new TabletClient(hub.url);
    expect((await tablet.request('POST', '/api/pair', { code, name: '櫃台 2' })).status).toBe(201);

    printer.setStatus({ paper: 'ok' });
    const after = await poll(
      async () => printed(),
      (page) => page.cuts === cutsBefore + 1,
      'the queued pairing page to print',
      20_000,
    );
    expect(after.qrCodes.at(-1)).toBe(`http://127.0.0.1:${hub.port}/pair#code=${code}`);
  });

  it('says the address is only this machine’s when the hub listens on a loopback address', async () => {
    const run = await runAyi(['pair', '--print'], dataDir);
    expect(run.stdout).toContain('Only this machine can open that address');
  });

  it('refuses --printer without --print, and an unknown printer', async () => {
    const usage = await runAyi(['pair', '--printer', 'counter'], dataDir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: ayi pair');
    const unknown = await runAyi(['pair', '--print', '--printer', 'nope'], dataDir);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('The page was not printed: No printer nope');
  });
});
