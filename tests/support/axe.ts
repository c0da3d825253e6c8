/**
 * Accessibility checks for the e2e tests: axe-core's rules for WCAG 2.1 A and AA, run inside the
 * real page in Chromium. The script is handed to the page through the DevTools protocol (not a
 * <script> tag), so the hub's Content Security Policy stays as strict as the tablets get it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults, Result } from 'axe-core';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** The page's global scope, as these checks see it (the tests are compiled without the DOM's types). */
interface PageGlobals {
  axe?: { run(context: unknown, options: object): Promise<AxeResults> };
  document: unknown;
}

/** One line per failing element: the rule, what it asks, where, and axe's own explanation. */
export function describeViolations(violations: Result[]): string[] {
  return violations.flatMap((rule) =>
    rule.nodes.map(
      (node) =>
        `${rule.id} (${rule.impact ?? 'n/a'}): ${rule.help} at ${node.target.join(' ')} — ${node.failureSummary ?? ''}`,
    ),
  );
}

/** The WCAG 2.1 AA violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<Result[]> {
  const loaded = await page.evaluate(() => (globalThis as unknown as PageGlobals).axe !== undefined);
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate((tags) => {
    const page = globalThis as unknown as PageGlobals;
    return page.axe!.run(page.document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  }, WCAG_21_AA);
  return results.violations;
}

/** Fails the test, naming each element, when the page as it is now breaks a WCAG 2.1 AA rule. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  expect(describeViolations(await axeViolations(page)), `accessibility of ${screen}`).toEqual([]);
}
