/**
 * The browser side of the end-to-end tests: the built hub (child process) serving the built tablet
 * UI, and headless Chromium sized and set up like the store's tablet, plus the steps every e2e test
 * takes (pair and log in, scan, screenshots, API calls).
 *
 * Needs `npm run build:test` first and Debian's Chromium at /usr/bin/chromium (CHROMIUM_PATH overrides).
 * Set AYI_E2E_SCREENSHOT_DIR to keep screenshots of the screens.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { HUB_ENTRY, TEST_UI_DIR, startHubProcess, type HubProcess } from './hub-process.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const UI_INDEX = path.join(TEST_UI_DIR, 'index.html');
export const SCREENSHOT_DIR = process.env.AYI_E2E_SCREENSHOT_DIR;

/** A 10" tablet in landscape. */
export const TABLET_VIEWPORT = { width: 1280, height: 800 };

/**
 * Headless in a container (no sandbox, no GPU), and quiet: no first-run set-up and no calls out to
 * Google's services (component updates, sync, background requests), so a test run makes no traffic
 * but to the hub under test.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  hub: HubProcess;
  browser: Browser;
  /** The first tablet: Taiwanese locale and time zone. */
  context: BrowserContext;
  page: Page;
  /**
   * Uncaught errors and Content Security Policy violations of every page opened through this
   * session; tests expect it to stay empty.
   */
  pageErrors: string[];
  /** Another tablet (own cookies, so not paired yet): the tablet's screen size and locale. */
  newTabletContext(): Promise<BrowserContext>;
  /** A page in `context` that waits up to 15 s and reports its uncaught errors into `pageErrors`. */
  newTabletPage(context: BrowserContext): Promise<Page>;
  /** Closes the browser and stops the hub; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Checks the build and Chromium are there, starts the hub and opens the first tablet. On a failure
 * part way, whatever was already started is stopped before the error is passed on. `hubOptions`
 * go to startHubProcess (a `dataDir` the test has written files such as devices.json into).
 */
export async function startBrowserSession(
  hubOptions: Parameters<typeof startHubProcess>[0] = {},
): Promise<BrowserSession> {
  expect(existsSync(HUB_ENTRY), `${HUB_ENTRY} is missing: run npm run build:test`).toBe(true);
  expect(existsSync(UI_INDEX), `${UI_INDEX} is missing: run npm run build:test`).toBe(true);
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);

  const pageErrors: string[] = [];
  let hub: HubProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const close = async (): Promise<void> => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await hub?.stop();
  };

  const newTabletPage = async (ctx: BrowserContext): Promise<Page> => {
    const page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The hub's Content Security Policy: whatever it blocks is a fault of the page (or of the policy).
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
        pageErrors.push(message.text());
      }
    });
    return page;
  };

  try {
    hub = await startHubProcess(hubOptions);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: TABLET_VIEWPORT, locale: 'zh-TW', timezoneId: 'Asia/Taipei' });
    const page = await newTabletPage(context);
    const started = browser;
    return {
      hub,
      browser,
      context,
      page,
      pageErrors,
      newTabletContext: () => started.newContext({ viewport: TABLET_VIEWPORT, locale: 'zh-TW' }),
      newTabletPage,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/**
 * The usual set-up of an e2e file: a session started before its tests (startBrowserSession with
 * `hubOptions`) and closed after them. Call it in the describe block; the tests get the session
 * from the function it returns.
 */
export function useBrowserSession(hubOptions: Parameters<typeof startHubProcess>[0] = {}): () => BrowserSession {
  let session: BrowserSession | undefined;

  beforeAll(async () => {
    session = await startBrowserSession(hubOptions);
  });

  afterAll(async () => {
    await session?.close();
  });

  return () => {
    if (!session) throw new Error('the browser session has not started');
    return session;
  };
}

/** Runs `steps` on a page of another tablet (its own context, not paired yet), then closes that context. */
export async function onAnotherTablet<T>(session: BrowserSession, steps: (tablet: Page) => Promise<T>): Promise<T> {
  const ctx = await session.newTabletContext();
  try {
    const tablet = await session.newTabletPage(ctx);
    return await steps(tablet);
  } finally {
    await ctx.close();
  }
}

/** Pairs an unpaired tablet with `code`, logs in with `pin` and waits for the checkout screen. */
export async function pairAndLogIn(page: Page, hubUrl: string, code: string, name: string, pin: string): Promise<void> {
  await page.goto(`${hubUrl}/`);
  await page.waitForURL('**/pair');
  await page.getByTestId('pair-code').fill(code);
  await page.getByTestId('pair-name').fill(name);
  await page.getByTestId('pair-submit').click();
  await page.waitForURL('**/login');
  for (const digit of pin) await page.getByTestId(`pin-${digit}`).click();
  await page.getByTestId('pin-enter').click();
  await page.waitForURL('**/checkout');
}

/** Types a code the way a keyboard-wedge scanner does: fast keystrokes, then Enter. */
export async function scan(page: Page, code: string): Promise<void> {
  await page.keyboard.type(code, { delay: 8 });
  await page.keyboard.press('Enter');
}

/** A full-page screenshot into AYI_E2E_SCREENSHOT_DIR; nothing when that is not set. */
export async function shot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOT_DIR) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, name), fullPage: true });
}

/** GET on the hub the page is on, with the page's cookies; expects a 2xx answer. */
export async function apiGet<T>(page: Page, urlPath: string): Promise<T> {
  const res = await page.request.get(new URL(urlPath, page.url()).toString());
  expect(res.ok(), `GET ${urlPath}: ${res.status()}`).toBe(true);
  return (await res.json()) as T;
}

/** What the hub answered a call made with callApi: the status and the JSON body (null when empty). */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/**
 * A call from inside the tablet's page (its cookies, its origin), as the UI itself would make it;
 * any status is returned, for the test to check.
 */
export async function callApi(page: Page, method: string, url: string, body?: unknown): Promise<ApiAnswer> {
  return page.evaluate(
    async ({ method, url, body }) => {
      const res = await fetch(url, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
    },
    { method, url, body },
  );
}

/** Opens a page from the top bar: the counter's pages are in the bar, the managers' in its menu. */
export async function openFromTopBar(page: Page, testId: string): Promise<void> {
  const link = page.getByTestId(testId);
  if (!(await link.isVisible())) await page.getByTestId('nav-menu').click();
  await link.click();
}

/** Logs out from the staff member's menu at the right of the top bar. */
export async function logOut(page: Page): Promise<void> {
  await page.getByTestId('staff-info').click();
  await page.getByTestId('logout-button').click();
  await page.waitForURL('**/login');
}
