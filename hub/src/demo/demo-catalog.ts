/**
 * The demo store's catalog as a CSV file (the columns of a manager's import): the everyday products,
 * and with the year of history also the baby products and fresh food its members come back for.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** hub/src/demo, from the source (hub/src/demo) and from the build (hub/dist/demo) alike. */
export const DEMO_FILES_DIR = path.resolve(import.meta.dirname, '..', '..', 'src', 'demo');

export function demoCatalogCsv(history: boolean, dir = DEMO_FILES_DIR): string {
  const file = (name: string) => readFileSync(path.join(dir, name), 'utf8').trimEnd();
  const extra = history ? `\n${file('history-catalog.csv').split('\n').slice(1).join('\n')}` : '';
  return `${file('catalog.csv')}${extra}\n`;
}
