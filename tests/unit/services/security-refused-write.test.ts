/**
 * security.json on a disk that refuses a write (full, failing): the hub goes on with what is on
 * disk, except a wrong PIN, which counts at once whatever the disk says. Real files; the refusal is
 * a real one (a directory stands where the durable adapter's temporary file must go), so it fails
 * the way a full disk does: before the rename, the old file whole.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSettings } from '../../../hub/src/storage/settings.repo.ts';
import { SecurityService, newSecurityData, type SecurityData } from '../../../hub/src/services/security.service.ts';
import { TempDirs } from '../../support/temp-dirs.ts';
import { NO_SECURITY_EVENTS } from '../../support/security-events.ts';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

async function securityOnDisk() {
  const dir = temp.make('ayi-security-');
  const db = await openSettings<SecurityData>(dir, 'security', newSecurityData);
  const security = new SecurityService(db, () => new Date('2026-12-07T02:00:00Z'), NO_SECURITY_EVENTS);
  const file = path.join(dir, 'security.json');
  const blocker = `${file}.${process.pid}.tmp`;
  return {
    security,
    onDisk: () => JSON.parse(readFileSync(file, 'utf8')) as SecurityData,
    refuseWrites: () => mkdirSync(blocker),
    acceptWrites: () => rmSync(blocker, { recursive: true }),
  };
}

describe('security.json when the disk refuses a write', () => {
  it('a refused revoke leaves the tablet as on disk (paired), and the revoke can be made again once the disk takes it', async () => {
    const { security, onDisk, refuseWrites, acceptWrites } = await securityOnDisk();
    const { device, token } = await security.pair(security.issuePairingCode().code, 'Counter', '10.0.0.5');

    refuseWrites();
    await expect(security.revokeDevice(device.deviceId)).rejects.toThrow();
    // Not revoked in memory either: the devices page and the disk agree, and the retry is not a 404.
    expect(security.listDevices().find((d) => d.deviceId === device.deviceId)?.revokedAt).toBeNull();
    expect(onDisk().devices[0]!.revokedAt).toBeNull();

    acceptWrites();
    await security.revokeDevice(device.deviceId);
    expect(security.authenticateDevice(token)).toBeNull();
    expect(onDisk().devices[0]!.revokedAt).not.toBeNull();
  });

  it('a refused staff member cannot log in (the PIN is not kept in memory only)', async () => {
    const { security, onDisk, refuseWrites, acceptWrites } = await securityOnDisk();
    const { device } = await security.pair(security.issuePairingCode().code, 'Counter', '10.0.0.5');
    refuseWrites();
    await expect(security.addStaff('小美', 'cashier', '4821')).rejects.toThrow();
    expect(security.listStaff()).toEqual([]);
    acceptWrites();
    await expect(security.login(device.deviceId, '4821')).rejects.toMatchObject({ code: 'wrong_pin' });
    expect(onDisk().staff).toEqual([]);
  });

  it('a wrong PIN counts at once even when the disk refuses to record it, and is written with the next change', async () => {
    const { security, onDisk, refuseWrites, acceptWrites } = await securityOnDisk();
    const { device } = await security.pair(security.issuePairingCode().code, 'Counter', '10.0.0.5');
    await security.addStaff('小美', 'cashier', '4821');

    refuseWrites();
    await expect(security.login(device.deviceId, '0000')).rejects.toThrow();
    expect(security.listDevices().find((d) => d.deviceId === device.deviceId)?.wrongPinsLastHour).toBe(1);

    acceptWrites();
    await expect(security.login(device.deviceId, '0001')).rejects.toMatchObject({ code: 'wrong_pin' });
    expect(onDisk().pinGuards[device.deviceId]?.failures).toHaveLength(2);
    expect(onDisk().storePinFailures).toHaveLength(2);
  });
});
