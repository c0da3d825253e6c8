/** Serial scanner bytes to scans: CR, LF or CRLF, split reads, UTF-8, framing, runaway lines. */
import { describe, expect, it } from 'vitest';
import { Backoff, MAX_LINE_BYTES, ScanLineSplitter } from '../../../hub/src/devices/serial-scanner.driver.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('serial scanner line splitting', () => {
  it('ends a scan at CR, LF or CRLF', () => {
    const s = new ScanLineSplitter();
    expect(s.push(bytes('4710000000001\r'))).toEqual(['4710000000001']);
    expect(s.push(bytes('AYI0000000042\n'))).toEqual(['AYI0000000042']);
    expect(s.push(bytes('/AB+.-9Z\r\n'))).toEqual(['/AB+.-9Z']);
    expect(s.push(bytes('1\r\n2\n\n3\r'))).toEqual(['1', '2', '3']);
  });

  it('joins a scan that arrives in several reads, including a CRLF split in two', () => {
    const s = new ScanLineSplitter();
    expect(s.push(bytes(']E0471'))).toEqual([]);
    expect(s.push(bytes('0000000001\r'))).toEqual([']E04710000000001']);
    expect(s.push(bytes('\n'))).toEqual([]);
    expect(s.push(bytes('BDAY'))).toEqual([]);
    expect(s.push(bytes('10\r\nX'))).toEqual(['BDAY10']);
  });

  it('decodes UTF-8 split between reads (a QR code with Chinese text)', () => {
    const s = new ScanLineSplitter();
    const all = bytes(']Q1會員\r\n');
    expect(s.push(all.subarray(0, 5))).toEqual([]);
    expect(s.push(all.subarray(5))).toEqual([']Q1會員']);
  });

  it('trims framing control characters but keeps GS separators inside a code', () => {
    const s = new ScanLineSplitter();
    expect(s.push(bytes('\x02]C1010471000000000117251231\x1d10ABC\x03\r\n'))).toEqual([
      ']C1010471000000000117251231\x1d10ABC',
    ]);
  });

  it('drops a line longer than the limit and recovers at the next terminator', () => {
    const s = new ScanLineSplitter();
    expect(s.push(Buffer.alloc(MAX_LINE_BYTES + 1, 0x31))).toEqual([]);
    expect(s.push(bytes('more\r\n42\r\n'))).toEqual(['42']);
  });
});

describe('reconnect backoff', () => {
  it('doubles up to the longest wait and starts over after a success', () => {
    const b = new Backoff({ minMs: 100, maxMs: 500 });
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([100, 200, 400, 500]);
    b.reset();
    expect(b.take()).toBe(100);
  });
});
