/**
 * A segment being built survives leaving the page (and a reload) in this tab: the conditions, the
 * name typed and which saved segment it changes. Conditions and names hold no personal data.
 */
import { withFreshIds, type DraftGroup } from './segments';

const KEY = 'ayi.segmentDraft';

export interface KeptSegmentDraft {
  tree: DraftGroup;
  name: string;
  /** The saved segment the draft changes (null: a new one). */
  segmentId: string | null;
}

/** Keeps the draft, or forgets it (null: nothing unsaved). */
export function keepSegmentDraft(draft: KeptSegmentDraft | null): void {
  try {
    if (draft) sessionStorage.setItem(KEY, JSON.stringify(draft));
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage unavailable or full: the page's own leave confirmation still guards the draft
  }
}

/** The draft kept from an earlier visit, if any. */
export function keptSegmentDraft(): KeptSegmentDraft | null {
  try {
    const text = sessionStorage.getItem(KEY);
    if (!text) return null;
    const draft = JSON.parse(text) as KeptSegmentDraft;
    if (draft?.tree?.kind !== 'group' || typeof draft.name !== 'string') return null;
    return { tree: withFreshIds(draft.tree), name: draft.name, segmentId: draft.segmentId ?? null };
  } catch {
    return null;
  }
}
