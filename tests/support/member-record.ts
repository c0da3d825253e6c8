/**
 * A member's record as the members projection keeps it, made by hand for the tests of what is
 * worked out from records (RFM, repurchase, the counter's insights) without events.
 */
import { NO_DEMOGRAPHICS, type MemberRecord } from '../../hub/src/domain/members.ts';

/**
 * A regular member since 2025-01-01 with no points, tags, consent or purchases; `overrides`
 * replace any field (purchase counts, histories by SKU or category, ...).
 */
export function memberRecord(memberId: string, overrides: Partial<MemberRecord> = {}): MemberRecord {
  return {
    memberId,
    memberCode: `AYI-${memberId}`,
    phoneHash: `hash-${memberId}`,
    sealed: null,
    demographics: { ...NO_DEMOGRAPHICS },
    since: '2025-01-01T00:00:00Z',
    tier: 'regular',
    points: 0,
    lots: [],
    ledger: [],
    tags: [],
    consent: {
      sms: { granted: false, at: null },
      line: { granted: false, at: null },
      email: { granted: false, at: null },
    },
    consentHistory: [],
    purchaseCount: 0,
    lastPurchase: null,
    cumulativeSpend: 0,
    spendLog: [],
    skus: {},
    categories: {},
    markdownPurchases: 0,
    recentSales: [],
    carrierHashes: [],
    mergedInto: null,
    erased: false,
    ...overrides,
  };
}
