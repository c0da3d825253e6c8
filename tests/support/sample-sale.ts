/**
 * A sample sale record as the hub keeps it, for the receipt tests: sale 42 of 2026-11-22, rung up at
 * 23:59:59 in Taipei on tab-1, no member, no coupon, no points, not voided or refunded.
 *
 * 2 x 890 = 1780, 10% off = 178 -> 1602; 3 x 15 = 45; subtotal 1647; order discount 47 -> total 1600;
 * card 1000 + cash 1000 = 2000 paid -> change 400. `overrides` replace any field (other lines and
 * amounts, a member, tenders).
 */
import type { SaleRecord } from '../../hub/src/domain/store-state.ts';

export function sampleSale(overrides: Partial<SaleRecord> = {}): SaleRecord {
  return {
    saleId: '20261122-000042',
    idempotencyKey: 'tablet1-0042',
    requestHash: 'x',
    businessDate: '2026-11-22',
    deviceId: 'tab-1',
    staffId: 'stf-1',
    memberId: null,
    lines: [
      {
        lineNo: 1,
        sku: 'PET-001',
        name: '皇家 室內成貓飼料 2kg 大包裝 限量版 超級長的商品名稱要被截斷才對',
        category: '寵物用品',
        qty: 2,
        unitPrice: 890,
        lineDiscount: 178,
        lineTotal: 1602,
        orderDiscountShare: 46,
      },
      {
        lineNo: 2,
        sku: 'DRK-001',
        name: '統一麥香紅茶 300ml',
        category: '飲料',
        qty: 3,
        unitPrice: 15,
        lineDiscount: 0,
        lineTotal: 45,
        orderDiscountShare: 1,
      },
    ],
    subtotal: 1647,
    orderDiscount: 47,
    memberDiscount: 0,
    couponCode: null,
    couponDiscount: 0,
    pointsRedeemed: 0,
    pointsDiscount: 0,
    loyalty: null,
    total: 1600,
    tenders: [
      { type: 'card', amount: 1000 },
      { type: 'cash', amount: 1000 },
    ],
    change: 400,
    seq: 42,
    saleNo: 7,
    // 23:59:59 in Taipei
    at: '2026-11-22T15:59:59.000Z',
    storeId: 'store-001',
    voided: null,
    refundedQty: {},
    refundedAmount: 0,
    refundKeys: [],
    ...overrides,
  };
}
