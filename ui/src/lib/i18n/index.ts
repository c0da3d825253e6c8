/**
 * svelte-i18n setup. Both dictionaries are registered synchronously, so the first render already
 * has text (no flash of message keys). Traditional Chinese is the default; the choice is remembered.
 */
import { addMessages, init, locale } from 'svelte-i18n';
import en from './en.json';
import zhTW from './zh-TW.json';
// The CRM pages keep their words in their own files (namespaces `segments` and `reports`).
import segmentsEn from './segments.en.json';
import segmentsZhTW from './segments.zh-TW.json';
import reportsEn from './reports.en.json';
import reportsZhTW from './reports.zh-TW.json';

export const LOCALES = [
  { code: 'zh-TW', label: '繁體中文' },
  { code: 'en', label: 'English' },
] as const;
export type LocaleCode = (typeof LOCALES)[number]['code'];

export const DEFAULT_LOCALE: LocaleCode = 'zh-TW';
const STORAGE_KEY = 'ayi.locale';

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

let started = false;

export function setupI18n(): void {
  if (started) return;
  started = true;
  addMessages('zh-TW', zhTW, segmentsZhTW, reportsZhTW);
  addMessages('en', en, segmentsEn, reportsEn);
  const initial = storedLocale();
  void init({ fallbackLocale: DEFAULT_LOCALE, initialLocale: initial });
  applyDocumentLang(initial);
}

export function setLocale(code: LocaleCode): void {
  void locale.set(code);
  applyDocumentLang(code);
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered, still switched
  }
}

setupI18n();
