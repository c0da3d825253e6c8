/**
 * Automatic tags (S2): a rule is a member filter and a tag; members it matches carry the tag,
 * marked with the rule that set it. Rules are re-evaluated for a member when something about them
 * lands (a sale, a void, a profile or consent change, a merge), for everyone nightly, and for
 * everyone when a rule is saved or deleted. A tag staff set by hand is never taken away by a rule.
 */
import { v7 as uuidv7 } from 'uuid';
import type { TagRuleView } from '../protocol/crm.js';
import type { HubEvent } from '../protocol/events.js';
import type { StaffView } from '../protocol/api.js';
import type { EventStore } from '../storage/event-store.js';
import type { MemberVault } from '../storage/member-vault.js';
import type { StoreState, TagRuleRecord } from '../domain/store-state.js';
import { isLive, type MemberRecord } from '../domain/members.js';
import { DomainError } from '../domain/errors.js';
import { compileSegment } from '../domain/segments.js';
import type { MembersService } from './members.service.js';
import type { AnalyticsService } from './analytics.service.js';
import type { SegmentsService } from './segments.service.js';
import { KeyedLock } from './keyed-lock.js';
import type { SegmentNode } from '../protocol/crm.js';

type Actor = { deviceId: string; staff: StaffView };

const RULE_SOURCE = 'rule:';
/** Members evaluated together in a full run: their tag events share fsyncs (group commit). */
const BATCH = 256;

interface CompiledRule {
  id: string;
  tag: string;
  holds: (record: MemberRecord) => boolean;
}

export interface TagRunResult {
  tagged: number;
  untagged: number;
}

export class TagRulesService {
  /** All evaluation runs one at a time, so two runs never decide about the same member at once. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Set<string>();
  private readonly saves = new KeyedLock();
  private stopping = false;

  constructor(
    private readonly state: StoreState,
    private readonly events: EventStore,
    private readonly vault: MemberVault,
    private readonly members: MembersService,
    private readonly analytics: AnalyticsService,
    private readonly segments: SegmentsService,
    private readonly onError: (err: unknown) => void,
  ) {}

  list(): TagRuleView[] {
    const tagged = new Map<string, number>();
    for (const record of this.state.members.members.values()) {
      if (!isLive(record)) continue;
      for (const { source } of record.tags) {
        if (source.startsWith(RULE_SOURCE)) {
          const id = source.slice(RULE_SOURCE.length);
          tagged.set(id, (tagged.get(id) ?? 0) + 1);
        }
      }
    }
    return [...this.state.tagRules.values()]
      .map((rule) => ({
        ruleId: rule.id,
        name: rule.name,
        tag: rule.tag,
        definition: rule.definition,
        savedAt: rule.savedAt,
        savedBy: this.state.staffName(rule.savedBy),
        tagged: tagged.get(rule.id) ?? 0,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Saves a rule (new, or replacing `ruleId`) and applies it to every member before answering. */
  async save(ruleId: string | null, body: { name: string; tag: string; definition: unknown }, actor: Actor) {
    // One save at a time, so two saves cannot both pass the unique-name check.
    const id = await this.saves.run(['rules'], () => this.record(ruleId, body, actor));
    await this.runAll();
    return this.list().find((rule) => rule.ruleId === id)!;
  }

  private async record(
    ruleId: string | null,
    body: { name: string; tag: string; definition: unknown },
    actor: Actor,
  ): Promise<string> {
    const definition = this.segments.parse(body.definition);
    if (ruleId !== null) this.require(ruleId);
    const id = ruleId ?? uuidv7();
    const name = body.name.trim();
    const tag = body.tag.trim();
    if (!name || !tag) throw new DomainError('invalid_rule', 'A rule needs a name and a tag', undefined, 400);
    for (const other of this.state.tagRules.values()) {
      if (other.id !== id && other.name === name) {
        throw new DomainError('name_taken', `A rule named ${name} already exists`, undefined, 409);
      }
    }
    if (readsTag(definition.root, tag)) {
      throw new DomainError(
        'rule_reads_own_tag',
        `A rule cannot depend on its own tag ${tag}: it would set and take it away by turns`,
        undefined,
        400,
      );
    }
    // Rules do not read each other's tags: two rules could undo each other at every sale, and a
    // chain would settle only a pass later. Staff tags can be read freely.
    const others = [...this.state.tagRules.values()].filter((rule) => rule.id !== id);
    const read = others.find((rule) => readsTag(definition.root, rule.tag));
    const reader = others.find((rule) => readsTag(rule.definition.root, tag));
    if (read || reader) {
      throw new DomainError(
        'rule_reads_rule_tag',
        read
          ? `This rule tests the tag ${read.tag}, which the rule ${read.name} sets: test what that rule tests instead`
          : `The rule ${reader!.name} tests the tag ${tag}: rules cannot depend on each other's tags`,
        { ruleId: (read ?? reader)!.id },
        400,
      );
    }
    await this.events.record('tag_rule.saved', { ruleId: id, name, tag, definition, staffId: actor.staff.id });
    return id;
  }

  /** Deletes a rule; the tags it set are taken away. */
  async delete(ruleId: string, actor: Actor): Promise<void> {
    // Under the saves' lock, so a save racing the delete cannot bring the rule back.
    await this.saves.run(['rules'], async () => {
      this.require(ruleId);
      await this.events.record('tag_rule.deleted', { ruleId, staffId: actor.staff.id });
    });
    await this.runAll();
  }

  /** Re-evaluates every rule for every member (nightly, and on demand). */
  runAll(): Promise<TagRunResult> {
    return this.serially(async () => {
      if (this.stopping) return { tagged: 0, untagged: 0 };
      const rules = this.compile();
      const ids = [...this.state.members.live()].map((r) => r.memberId);
      const total: TagRunResult = { tagged: 0, untagged: 0 };
      for (let i = 0; i < ids.length; i += BATCH) {
        // One member's failure must not leave the rest of the store untagged.
        const results = await Promise.allSettled(ids.slice(i, i + BATCH).map((id) => this.evaluate(id, rules)));
        for (const r of results) {
          if (r.status === 'rejected') {
            this.onError(r.reason);
            continue;
          }
          total.tagged += r.value.tagged;
          total.untagged += r.value.untagged;
        }
      }
      return total;
    });
  }

  /** Called for every committed event: re-evaluates the members it concerns (after it, in order). */
  noteCommitted(event: HubEvent): void {
    if (this.stopping) return; // the start-up run catches up on what a shutdown leaves
    for (const memberId of membersToReevaluate(event)) {
      if (this.waiting.has(memberId)) continue;
      this.waiting.add(memberId);
      void this.serially(async () => {
        this.waiting.delete(memberId);
        if (this.state.tagRules.size === 0 && !hasRuleTags(this.state.members.resolve(memberId))) return;
        await this.evaluate(memberId, this.compile());
      }).catch(this.onError);
    }
  }

  /** Resolves when every evaluation queued so far has run (tests). */
  async idle(): Promise<void> {
    await this.serially(async () => undefined);
  }

  /** Takes no more work from committed events and lets what is queued finish (before the journal closes). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  /** Whether a start-up run is needed: rules exist, or tags of a rule deleted just before a crash remain. */
  needsRun(): boolean {
    if (this.state.tagRules.size > 0) return true;
    for (const record of this.state.members.members.values()) if (hasRuleTags(record)) return true;
    return false;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private compile(): CompiledRule[] {
    const env = this.analytics.segmentEnv();
    return [...this.state.tagRules.values()].map((rule: TagRuleRecord) => ({
      id: rule.id,
      tag: rule.tag,
      holds: compileSegment(rule.definition, env),
    }));
  }

  /** Brings one member's automatic tags in line with the rules, under the member's lock. */
  private async evaluate(memberId: string, rules: CompiledRule[]): Promise<TagRunResult> {
    const result: TagRunResult = { tagged: 0, untagged: 0 };
    if (!this.state.members.resolve(memberId)) return result;
    try {
      await this.evaluateLocked(memberId, rules, result);
    } catch (err) {
      // Erased (or merged away) while waiting for the lock: nothing left to tag.
      if (err instanceof DomainError && err.code === 'member_not_found') return result;
      throw err;
    }
    return result;
  }

  private async evaluateLocked(memberId: string, rules: CompiledRule[], result: TagRunResult): Promise<void> {
    await this.members.withMember(memberId, [], async (record) => {
      const writes: Promise<unknown>[] = [];
      const untag = (ruleId: string, tag: string) => {
        result.untagged += 1;
        writes.push(
          this.events.record('member.auto_untagged', {
            memberId: record.memberId,
            sealed: this.vault.seal(record.memberId, { tag, ruleId }),
          }),
        );
      };
      const tagWith = (ruleId: string, tag: string) => {
        result.tagged += 1;
        writes.push(
          this.events.record('member.auto_tagged', {
            memberId: record.memberId,
            sealed: this.vault.seal(record.memberId, { tag, ruleId }),
          }),
        );
      };
      const holding = new Map<string, string>();
      for (const rule of rules) if (!holding.has(rule.tag) && rule.holds(record)) holding.set(rule.tag, rule.id);
      for (const { tag, source } of record.tags) {
        if (!source.startsWith(RULE_SOURCE)) continue;
        const ruleId = source.slice(RULE_SOURCE.length);
        const stillHolds = rules.some((rule) => rule.id === ruleId && rule.tag === tag && rule.holds(record));
        if (stillHolds) continue;
        untag(ruleId, tag);
        // Another rule with the same tag may hold: the tag stays, now naming that rule.
        const other = holding.get(tag);
        if (other !== undefined) tagWith(other, tag);
      }
      const carried = new Set(record.tags.map((t) => t.tag));
      for (const [tag, ruleId] of holding) if (!carried.has(tag)) tagWith(ruleId, tag);
      await Promise.all(writes);
    });
  }

  private require(ruleId: string): TagRuleRecord {
    const rule = this.state.tagRules.get(ruleId);
    if (!rule) throw new DomainError('tag_rule_not_found', 'There is no such tag rule', undefined, 404);
    return rule;
  }
}

/** Whether a definition tests for a tag (in any match: any, all or none). */
function readsTag(node: SegmentNode, tag: string): boolean {
  if ('op' in node) return node.op === 'not' ? readsTag(node.item, tag) : node.items.some((n) => readsTag(n, tag));
  return node.field === 'tags' && node.values.includes(tag);
}

function hasRuleTags(record: MemberRecord | undefined): boolean {
  return record?.tags.some((t) => t.source.startsWith(RULE_SOURCE)) ?? false;
}

/** Members whose facts an event changes (automatic tag events themselves change nothing a rule reads but tags). */
export function membersToReevaluate(event: HubEvent): string[] {
  switch (event.type) {
    case 'sale.completed':
      return event.data.memberId ? [event.data.memberId] : [];
    case 'sale.voided':
    case 'sale.refunded':
      return event.data.loyalty ? [event.data.loyalty.memberId] : [];
    case 'member.registered':
    case 'member.profile_updated':
    case 'member.consent_changed':
    case 'member.tagged':
    case 'member.untagged':
    case 'member.tier_changed':
    case 'points.expired':
      return [event.data.memberId];
    case 'member.merged':
      return [event.data.intoMemberId];
    default:
      return [];
  }
}
