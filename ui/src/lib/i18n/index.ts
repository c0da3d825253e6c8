/**
 * svelte-i18n setup. Only the active language is downloaded (the root layout waits for it, so the
 * first render already has text); the other one comes when staff switch to it. The CRM pages keep
 * their words in their own files (namespaces `segments` and `reports`), which come with those
 * pages (loadMessages in their load functions), not with every start of the counter.
 * Traditional Chinese is the default; the choice is remembered.
 */
import { init, locale, register, waitLocale } from 'svelte-i18n';

export const LOCALES = [
  { code: 'zh-TW', label: '繁體中文' },
  { code: 'en', label: 'English' },
] as const;
export type LocaleCode = (typeof LOCALES)[number]['code'];

export const DEFAULT_LOCALE: LocaleCode = 'zh-TW';
const STORAGE_KEY = 'ayi.locale';

type Dictionary = Record<string, unknown>;
type Loader = () => Promise<{ default: Dictionary }>;

const COMMON_MESSAGES: Record<LocaleCode, Loader> = {
  'zh-TW': () => import('./zh-TW.json'),
  en: () => import('./en.json'),
};

/** The words of pages only managers open, by namespace. */
const PAGE_MESSAGES = {
  segments: { 'zh-TW': () => import('./segments.zh-TW.json'), en: () => import('./segments.en.json') },
  reports: { 'zh-TW': () => import('./reports.zh-TW.json'), en: () => import('./reports.en.json') },
} satisfies Record<string, Record<LocaleCode, Loader>>;
export type MessageNamespace = keyof typeof PAGE_MESSAGES;

function isLocale(v: unknown): v is LocaleCode {
  return LOCALES.some((l) => l.code === v);
}

function storedLocale(): LocaleCode {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (isLocale(v)) return v;
  } catch {
    // storage unavailable (private mode): use the default
  }
  return DEFAULT_LOCALE;
}

function applyDocumentLang(code: LocaleCode): void {
  document.documentElement.lang = code === 'zh-TW' ? 'zh-Hant-TW' : 'en';
}

function registerAll(loaders: Record<LocaleCode, Loader>): void {
  for (const { code } of LOCALES) register(code, loaders[code]);
}

let started = false;

export function setupI18n(): void {
  if (started) return;
  started = true;
  registerAll(COMMON_MESSAGES);
  const initial = storedLocale();
  // Both dictionaries have every key: the fallback is the starting language itself, so starting
  // in one language never downloads the other.
  void init({ fallbackLocale: initial, initialLocale: initial });
  applyDocumentLang(initial);
  // svelte-i18n writes the bare code (zh-TW) into <html lang> once a language has loaded; the
  // page says Traditional Chinese script explicitly (zh-Hant-TW), for fonts and screen readers.
  locale.subscribe((code) => {
    if (isLocale(code)) applyDocumentLang(code);
  });
}

/** Resolves once the active language's words are there (the root layout's load waits for it). */
export function i18nReady(): Promise<void> {
  return waitLocale();
}

const registered = new Set<MessageNamespace>();

/**
 * Loads a page's own words in the active language (and, from then on, in any language switched
 * to); a page's load function awaits it so the page never shows message keys.
 */
export async function loadMessages(...namespaces: MessageNamespace[]): Promise<void> {
  for (const namespace of namespaces) {
    if (registered.has(namespace)) continue;
    registered.add(namespace);
    registerAll(PAGE_MESSAGES[namespace]);
  }
  await waitLocale();
}

/** Switches the UI's language once its words (and those of the pages opened so far) have loaded. */
export async function setLocale(code: LocaleCode): Promise<void> {
  await locale.set(code);
  applyDocumentLang(code);
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered, still switched
  }
}

setupI18n();
