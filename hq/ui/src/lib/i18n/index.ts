/**
 * The dashboard's words: Traditional Chinese first, English; only the active language is
 * downloaded, and the choice is remembered in this browser.
 */
import { init, locale, register, waitLocale } from 'svelte-i18n';

export const LOCALES = [
  { code: 'zh-TW', label: '繁體中文' },
  { code: 'en', label: 'English' },
] as const;
export type LocaleCode = (typeof LOCALES)[number]['code'];

const STORAGE_KEY = 'ayi.hq.locale';

register('zh-TW', () => import('./zh-TW.json'));
register('en', () => import('./en.json'));

function storedLocale(): LocaleCode {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (LOCALES.some((l) => l.code === stored)) return stored as LocaleCode;
  } catch {
    // storage unavailable: the default
  }
  return 'zh-TW';
}

function applyDocumentLang(code: LocaleCode): void {
  document.documentElement.lang = code === 'zh-TW' ? 'zh-Hant-TW' : 'en';
}

export async function startI18n(): Promise<void> {
  const code = storedLocale();
  init({ fallbackLocale: 'zh-TW', initialLocale: code });
  applyDocumentLang(code);
  await waitLocale();
}

export async function switchLocale(code: LocaleCode): Promise<void> {
  await locale.set(code);
  applyDocumentLang(code);
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered; still switched
  }
}
