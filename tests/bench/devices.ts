/**
 * Device benchmarks, in process:
 *
 *   receipt_encode_ms   median time to build and encode a 30-line Chinese receipt (buildReceipt +
 *                       encodeReceipt to ESC/POS bytes, cp950, 80 mm; target 5 ms)
 *
 * The receipt is a member's sale of 3 Chinese-named items (two lines each) with a coupon, points,
 * two tenders and the member block: 30 lines of text (checked), plus the QR code, the CODE128
 * barcode, the cut and a drawer kick. One decode after the runs checks the bytes are a receipt.
 */
import { DEFAULT_PROGRAM } from '../../hub/src/domain/loyalty.ts';
import { buildReceipt, renderReceipt, type ReceiptContext } from '../../hub/src/domain/receipt.ts';
import type { SaleRecord } from '../../hub/src/domain/store-state.ts';
import { decodeEscPos } from '../../hub/src/devices/escpos/escpos-decoder.ts';
import { encodeReceipt } from '../../hub/src/devices/escpos/receipt-encoder.ts';

const WARMUP = 200;
const RUNS = 2_000;

function emit(metric: string, value: number, unit: string, baseline: number): void {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  console.log(JSON.stringify({ metric, value: round(value), unit, baseline, ratio: round(value / baseline) }));
}

const NAMES = ['統一麥香紅茶 300ml', '皇家 室內成貓飼料 2kg', '義美 小泡芙 巧克力口味', '台灣啤酒 經典 330ml 六入'];

function benchSale(): SaleRecord {
  const lines = NAMES.map((name, i) => {
    const qty = (i % 3) + 1;
    const unitPrice = 35 + i * 47;
    return {
      lineNo: i + 1,
      sku: `SKU-${i}`,
      name,
      category: '雜貨',
      qty,
      unitPrice,
      lineDiscount: 0,
      lineTotal: qty * unitPrice,
      orderDiscountShare: 0,
    };
  });
  const subtotal = lines.reduce((sum, l) => sum + l.lineTotal, 0);
  const total = subtotal - 100 - 30;
  return {
    saleId: '20261122-000042',
    idempotencyKey: 'bench',
    requestHash: 'x',
    businessDate: '2026-11-22',
    deviceId: 'tab-1',
    staffId: 'stf-1',
    memberId: 'm-1',
    lines,
    subtotal,
    orderDiscount: 0,
    memberDiscount: 0,
    couponCode: 'WELCOME100',
    couponDiscount: 100,
    pointsRedeemed: 30,
    pointsDiscount: 30,
    loyalty: { tierBefore: 'regular', tierAfter: 'regular', pointsEarned: 40, pointsBalance: 1234, windowSpend: 5200 },
    total,
    tenders: [
      { type: 'card', amount: 2000 },
      { type: 'cash', amount: total - 2000 + 100 },
    ],
    change: 100,
    seq: 42,
    at: '2026-11-22T15:59:59.000Z',
    storeId: 'store-001',
    voided: null,
    refundedQty: {},
    refundedAmount: 0,
    refundKeys: [],
  };
}

function main(): void {
  const sale = benchSale();
  const ctx: ReceiptContext = {
    storeName: '阿姨的店 示範門市',
    storeId: 'store-001',
    timeZone: 'Asia/Taipei',
    columns: 42,
    copy: false,
    staffName: '王老闆',
    member: { memberCode: 'AYI*******xyz', maskedPhone: '09*****321' },
    program: DEFAULT_PROGRAM,
  };
  const lineCount = renderReceipt(sale, ctx).length;
  if (lineCount !== 30) throw new Error(`the bench receipt has ${lineCount} lines, not 30`);

  const encode = () => encodeReceipt(buildReceipt(sale, ctx), { encoding: 'cp950', kickDrawer: true });
  for (let i = 0; i < WARMUP; i++) encode();
  const times: number[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    bytes = encode();
    times.push(performance.now() - t0);
  }
  const printed = decodeEscPos(bytes, { encoding: 'cp950', columns: 42 });
  if (printed.qrCodes.length !== 1 || printed.barcodes.length !== 1 || printed.cuts !== 1) {
    throw new Error('the bench receipt did not decode as a receipt');
  }
  times.sort((a, b) => a - b);
  emit('receipt_encode_ms', times[Math.floor(times.length / 2)]!, 'ms', 5);
}

main();
