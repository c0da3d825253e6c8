/** DLE EOT: the status bytes of Epson-compatible printers, and what they mean for printing. */
import { describe, expect, it } from 'vitest';
import { PrinterError } from '../../../hub/src/devices/device-types.ts';
import {
  isStatusByte,
  parseStatus,
  queryStatus,
  statusBytes,
  statusProblem,
} from '../../../hub/src/devices/printer-status.ts';

describe('DLE EOT status', () => {
  it('reads an idle printer (0x12 0x12 0x12) as online with paper', () => {
    expect(parseStatus(0x12, 0x12, 0x12)).toEqual({ online: true, coverOpen: false, paper: 'ok', error: false });
    expect(isStatusByte(0x12)).toBe(true);
    expect(isStatusByte(0x00)).toBe(false);
    expect(isStatusByte(0x92)).toBe(false);
  });

  it('reads offline, cover open, paper near end, paper end, error', () => {
    expect(parseStatus(0x1a, 0x16, 0x12)).toMatchObject({ online: false, coverOpen: true });
    expect(parseStatus(0x12, 0x12, 0x1e).paper).toBe('near_end');
    expect(parseStatus(0x1a, 0x32, 0x72).paper).toBe('out');
    expect(parseStatus(0x12, 0x32, 0x12).paper).toBe('out'); // stopped by paper end
    expect(parseStatus(0x12, 0x52, 0x12).error).toBe(true);
  });

  it('round-trips the bytes a test printer answers with', () => {
    for (const status of [
      { online: true, coverOpen: false, paper: 'ok' as const, error: false },
      { online: false, coverOpen: true, paper: 'near_end' as const, error: false },
      { online: false, coverOpen: false, paper: 'out' as const, error: true },
    ]) {
      const bytes = statusBytes(status);
      expect([bytes[1], bytes[2], bytes[4]].every(isStatusByte)).toBe(true);
      expect(parseStatus(bytes[1], bytes[2], bytes[4])).toEqual(status);
    }
  });

  it('says why a printer cannot print (paper near its end still prints)', () => {
    const ok = { online: true, coverOpen: false, paper: 'ok' as const, error: false };
    expect(statusProblem(ok)).toBeNull();
    expect(statusProblem({ ...ok, paper: 'near_end' })).toBeNull();
    expect(statusProblem({ ...ok, online: false, paper: 'out' })?.code).toBe('paper_out');
    expect(statusProblem({ ...ok, online: false, coverOpen: true })?.code).toBe('cover_open');
    expect(statusProblem({ ...ok, online: false })?.code).toBe('offline');
  });

  it('asks 1, 2, 4; null from a printer that never answers; a timeout from one that stops answering', async () => {
    const asked: number[] = [];
    const answers = [0x12, 0x12, 0x1e];
    expect(
      await queryStatus(async (request) => {
        asked.push(request[2]!);
        return answers.shift()!;
      }),
    ).toMatchObject({ paper: 'near_end' });
    expect(asked).toEqual([1, 2, 4]);
    expect(await queryStatus(async () => null)).toBeNull();
    const once = [0x12];
    await expect(queryStatus(async () => once.shift() ?? null)).rejects.toMatchObject({ code: 'timeout' });
    await expect(queryStatus(async () => 0x41)).rejects.toBeInstanceOf(PrinterError);
  });
});
