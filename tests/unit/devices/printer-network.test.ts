/** The network printer driver against a real TCP 9100 test printer. */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { NetworkPrinterTransport } from '../../../hub/src/devices/network-printer.driver.ts';
import { until } from '../../support/fake-usb.ts';
import { freePort } from '../../support/free-port.ts';
import { Virtual9100Printer } from '../../support/virtual-9100-printer.ts';

const printers: Virtual9100Printer[] = [];
const transports: NetworkPrinterTransport[] = [];

afterAll(async () => {
  for (const transport of transports) await transport.close();
  for (const printer of printers) await printer.close();
});

async function setup(options: { answersStatus?: boolean } = {}) {
  const printer = await Virtual9100Printer.start(options);
  printers.push(printer);
  const transport = new NetworkPrinterTransport({
    host: printer.host,
    port: printer.port,
    connectTimeoutMs: 300,
    writeTimeoutMs: 500,
    statusTimeoutMs: 100,
  });
  transports.push(transport);
  return { printer, transport };
}

describe('the network printer driver', () => {
  it('writes jobs and reads DLE EOT status on one connection', async () => {
    const { printer, transport } = await setup();
    await transport.write(Uint8Array.of(0x1b, 0x40, 0x41, 0x0a));
    expect(await transport.status()).toEqual({ online: true, coverOpen: false, paper: 'ok', error: false });
    printer.setStatus({ paper: 'out', online: false });
    expect(await transport.status()).toMatchObject({ paper: 'out', online: false });
    printer.setStatus({ paper: 'near_end', online: true, coverOpen: false });
    expect((await transport.status())?.paper).toBe('near_end');
    await until(() => printer.printed.length === 4);
    expect(printer.printed).toEqual([0x1b, 0x40, 0x41, 0x0a]);
    expect(printer.connectionsAccepted).toBe(1);
  });

  it('null status from a printer that never answers', async () => {
    const { transport } = await setup({ answersStatus: false });
    expect(await transport.status()).toBeNull();
  });

  it('reconnects after the printer drops the connection, and reports the drop', async () => {
    const { printer, transport } = await setup();
    const changes: string[] = [];
    transport.onChange((change) => changes.push(change));
    await transport.write(Uint8Array.of(0x41));
    await until(() => printer.printed.length === 1);
    printer.dropConnections();
    await until(() => changes.length === 1);
    await transport.write(Uint8Array.of(0x42));
    await until(() => printer.printed.length === 2);
    expect(printer.connectionsAccepted).toBe(2);
    expect(changes).toEqual(['disconnected']);
  });

  it('is offline when nothing listens (refused) and when the host does not answer (timeout)', async () => {
    const refused = new NetworkPrinterTransport({ host: '127.0.0.1', port: await freePort(), connectTimeoutMs: 300 });
    await expect(refused.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'offline' });
    // a server that never accepts: its backlog full (1), the next connection hangs in SYN
    const silent = net.createServer();
    await new Promise<void>((resolve) => silent.listen({ port: 0, host: '127.0.0.1', backlog: 0 }, resolve));
    const port = (silent.address() as net.AddressInfo).port;
    silent.on('connection', () => undefined);
    const unanswered = new NetworkPrinterTransport({ host: '10.255.255.1', port, connectTimeoutMs: 200 });
    const started = Date.now();
    await expect(unanswered.open()).rejects.toMatchObject({ code: 'offline' });
    expect(Date.now() - started).toBeLessThan(2000);
    silent.close();
  });

  it('times out a status answer lost midway with a closed connection as offline', async () => {
    const { printer, transport } = await setup();
    await transport.open();
    await printer.switchOff();
    await expect(transport.status()).rejects.toMatchObject({ code: 'offline' });
    await printer.switchOn();
    expect(await transport.status()).toMatchObject({ online: true });
  });
});
