/** The scanning service: registration, routing by assignment, reassignment, drops of unassigned scans. */
import { describe, expect, it } from 'vitest';
import { Bus } from '../../../hub/src/bus/bus.ts';
import type { ScannerConfig } from '../../../hub/src/devices/device-config.ts';
import { DeviceRegistry } from '../../../hub/src/devices/device-registry.ts';
import type { ScanEvent } from '../../../hub/src/devices/device-types.ts';
import type { ScannerDriver, ScannerDriverContext } from '../../../hub/src/devices/serial-scanner.driver.ts';
import { ScanningService, type ScanDelivery } from '../../../hub/src/services/scanning.service.ts';

const SCANNERS: ScannerConfig[] = [
  { id: 'counter-1', name: 'Counter 1', transport: 'serial', path: '/dev/null', baudRate: 9600, assignedTo: 'tab-a' },
  {
    id: 'back-room',
    name: 'Back room',
    transport: 'hid',
    vendorId: 1,
    productId: 2,
    serialNumber: null,
    assignedTo: null,
  },
];

class FakeDriver implements ScannerDriver {
  started = false;
  stopped = false;
  constructor(
    readonly scannerId: string,
    readonly ctx: ScannerDriverContext,
  ) {}
  start(): void {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  scan(code: string, symbology: string | null = null): void {
    this.ctx.onScan({ scannerId: this.scannerId, code, symbology, receivedAt: performance.now() });
  }
}

function setup() {
  const registry = new DeviceRegistry();
  const bus = new Bus((_topic, err) => {
    throw err;
  });
  const deliveries: ScanDelivery[] = [];
  bus.on('scanner.scan', (d) => deliveries.push(d));
  const logs: unknown[][] = [];
  const log = {
    info: (...args: unknown[]) => logs.push(args),
    warn: (...args: unknown[]) => logs.push(args),
    error: (...args: unknown[]) => logs.push(args),
    debug: (...args: unknown[]) => logs.push(args),
  };
  const drivers = new Map<string, FakeDriver>();
  const service = new ScanningService(SCANNERS, {
    registry,
    bus,
    log: log as never,
    drivers: (config, ctx) => {
      const d = new FakeDriver(config.id, ctx);
      drivers.set(config.id, d);
      return d;
    },
  });
  service.start();
  return { registry, deliveries, logs, drivers, service };
}

describe('ScanningService', () => {
  it('registers every scanner and starts its driver', () => {
    const { registry, drivers } = setup();
    expect(registry.get('counter-1')).toMatchObject({
      kind: 'scanner',
      transport: 'serial',
      connected: false,
      assignedTo: 'tab-a',
    });
    expect(registry.get('back-room')).toMatchObject({ transport: 'hid', assignedTo: null });
    expect([...drivers.values()].every((d) => d.started)).toBe(true);
  });

  it('keeps a registration the hub made, with the assignment it starts with', () => {
    const registry = new DeviceRegistry();
    registry.register({
      deviceId: 'counter-1',
      kind: 'scanner',
      name: 'Counter 1',
      transport: 'serial',
      connected: false,
      paper: null,
      queueLength: null,
      lastError: null,
      assignedTo: null,
    });
    const bus = new Bus(() => undefined);
    const service = new ScanningService([{ ...SCANNERS[0]!, assignedTo: 'tab-z' }], {
      registry,
      bus,
      log: { info() {}, warn() {}, error() {}, debug() {} } as never,
      drivers: (config, ctx) => new FakeDriver(config.id, ctx),
    });
    service.start();
    expect(registry.get('counter-1')?.assignedTo).toBe('tab-z');
  });

  it('sends a scan to the tablet its scanner is assigned to', () => {
    const { deliveries, drivers } = setup();
    drivers.get('counter-1')!.scan('4710000000001', ']E0');
    expect(deliveries).toEqual([
      expect.objectContaining({ deviceId: 'tab-a', scannerId: 'counter-1', code: '4710000000001', symbology: ']E0' }),
    ]);
  });

  it('drops a scan from an unassigned scanner, logs it without the code, counts it in lastError', () => {
    const { deliveries, drivers, logs, registry } = setup();
    drivers.get('back-room')!.scan('/AB+.-9Z');
    drivers.get('back-room')!.scan('AYI0000000042');
    expect(deliveries).toEqual([]);
    expect(registry.get('back-room')?.lastError).toBe('not assigned to a tablet: 2 scans dropped');
    const text = JSON.stringify(logs);
    expect(text).toContain('scan dropped');
    expect(text).not.toContain('/AB+.-9Z');
    expect(text).not.toContain('AYI0000000042');
  });

  it('reassigns at run time: scans follow, and the drop note goes', () => {
    const { deliveries, drivers, registry, service } = setup();
    drivers.get('back-room')!.scan('1');
    service.assign('back-room', 'tab-b');
    expect(registry.get('back-room')).toMatchObject({ assignedTo: 'tab-b', lastError: null });
    drivers.get('back-room')!.scan('2');
    service.assign('counter-1', null);
    drivers.get('counter-1')!.scan('3');
    expect(deliveries.map((d) => [d.deviceId, d.code])).toEqual([['tab-b', '2']]);
    expect(service.assignmentOf('counter-1')).toBeNull();
    expect(() => service.assign('nope', 'tab-a')).toThrow(/No scanner nope/);
  });

  it('ignores scans from scanners it does not know, and stops every driver', async () => {
    const { deliveries, drivers, service } = setup();
    const scan: ScanEvent = { scannerId: 'ghost', code: '1', symbology: null, receivedAt: 0 };
    service.handleScan(scan);
    expect(deliveries).toEqual([]);
    await service.stop();
    expect([...drivers.values()].every((d) => d.stopped)).toBe(true);
  });
});
