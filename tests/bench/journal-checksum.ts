/**
 * What checking each journal line's CRC32C costs at start-up: 200,000 sale-sized lines read through
 * the journal's adapter with checksums, and the same lines without them (as written before
 * checksums), same process, same files' page cache, in CPU time; and the CRC32C step alone. Prints
 * JSON lines like the other benchmarks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import os from 'node:os';
import path from 'node:path';
import { JsonLinesAppendFile, formatLine } from '../../hub/src/storage/jsonl-append.adapter.ts';
import { isHubEvent } from '../../hub/src/storage/journal.ts';

const LINES = 200_000;

function sampleEvent(seq: number) {
  return {
    schema: 'ayi.event/1',
    eventId: `0190c3a2-7b1e-7000-8000-${String(seq).padStart(12, '0')}`,
    chainId: 'demo',
    storeId: 'store-001',
    epoch: '0190c3a2-7b1e-7000-8000-000000000000',
    seq,
    type: 'sale.completed',
    at: new Date(1_760_000_000_000 + seq * 1000).toISOString(),
    data: {
      saleId: `S-${seq}`,
      idempotencyKey: `k-${seq}`,
      staffId: 'staff-1',
      deviceId: 'dev-1',
      memberId: null,
      lines: [
        { lineNo: 1, sku: 'DRK-001', name: '統一麥香紅茶 300ml', unitPrice: 15, qty: 2, discount: 0, total: 30 },
        { lineNo: 2, sku: 'FOD-001', name: '義美小泡芙 巧克力', unitPrice: 39, qty: 1, discount: 0, total: 39 },
      ],
      subtotal: 69,
      orderDiscount: 0,
      total: 69,
      tenders: [{ type: 'cash', amount: 100 }],
      change: 31,
    },
  };
}

/** CPU time (user + system, ms) of the fastest of 7 reads: the machine may be shared, wall time is not. */
async function timeRead(file: string): Promise<number> {
  const best: number[] = [];
  for (let round = 0; round < 7; round++) {
    const t0 = process.cpuUsage();
    const entries = await new JsonLinesAppendFile(file, isHubEvent).read();
    const used = process.cpuUsage(t0);
    best.push((used.user + used.system) / 1000);
    if (entries?.length !== LINES) throw new Error(`read ${entries?.length} of ${LINES}`);
  }
  return Math.min(...best);
}

/** CPU time of the checksum step alone: CRC32C of every line's bytes, as the reader does it. */
function timeChecksums(bytes: Buffer): number {
  const best: number[] = [];
  for (let round = 0; round < 7; round++) {
    const t0 = process.cpuUsage();
    let start = 0;
    let sum = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      sum ^= crc32c(bytes.subarray(start + 21, newline));
      start = newline + 1;
    }
    const used = process.cpuUsage(t0);
    if (sum === 0.5) console.log(sum);
    best.push((used.user + used.system) / 1000);
  }
  return Math.min(...best);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ayi-crc-bench-'));
try {
  const events = Array.from({ length: LINES }, (_, i) => sampleEvent(i + 1));
  const withChecksums = path.join(dir, 'with.jsonl');
  const legacy = path.join(dir, 'legacy.jsonl');
  writeFileSync(withChecksums, events.map(formatLine).join(''));
  writeFileSync(legacy, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const checked = await timeRead(withChecksums);
  const plain = await timeRead(legacy);
  const print = (metric: string, value: number, baseline: number | null) =>
    console.log(
      JSON.stringify({
        metric,
        value: Math.round(value),
        unit: 'ms',
        baseline: baseline === null ? null : Math.round(baseline),
        ratio: baseline === null ? null : Math.round((value / baseline) * 100) / 100,
      }),
    );
  print('journal_read_200k_lines_checksummed_ms', checked, plain);
  print('journal_checksum_cost_200k_lines_ms', timeChecksums(readFileSync(withChecksums)), null);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
