/**
 * A loyalty tier's name on screen. The hub's default tiers (一般, 銀卡, 金卡) are shown in the UI's
 * language; a store that named its tiers itself sees its own names as written.
 */
import type { Translate } from './reports';

const DEFAULT_NAMES: Record<string, string> = { regular: '一般', silver: '銀卡', gold: '金卡' };

export function tierLabel(tier: string, hubName: string, t: Translate): string {
  return DEFAULT_NAMES[tier] === hubName ? t(`tiers.${tier}`) : hubName;
}
