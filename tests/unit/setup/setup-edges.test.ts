/**
 * What a new store meets before the first sale (issue 13, setup edges): `npm ci` on the Node the
 * README promises installs without an engine warning, and running the tests next to a hub started
 * with `npm start` leaves the UI that hub serves alone.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../hub/src/config/config.ts';
import { REPO_ROOT, TEST_UI_DIR } from '../../support/hub-process.ts';

/** The oldest Node the README and every package.json's engines promise. */
const OLDEST_NODE = '20.19.0';

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

const readJson = <T>(...parts: string[]): T => JSON.parse(readFileSync(path.join(REPO_ROOT, ...parts), 'utf8')) as T;

describe('npm ci on the promised Node', () => {
  it(`installs nothing that asks for a newer Node than ${OLDEST_NODE}`, () => {
    const lock = readJson<{ packages: Record<string, LockedPackage> }>('package-lock.json');
    const wantNewer: string[] = [];
    for (const [where, pkg] of Object.entries(lock.packages)) {
      // Very old packages list engines as an array of strings; npm ignores those.
      const range = Array.isArray(pkg.engines) ? undefined : pkg.engines?.node;
      if (range && !semver.satisfies(OLDEST_NODE, range))
        wantNewer.push(`${where || 'ayi'}@${pkg.version}: node ${range}`);
    }
    expect(wantNewer).toEqual([]);
  });

  it(`promises the same Node everywhere: ${OLDEST_NODE} or newer`, () => {
    for (const manifest of ['package.json', 'hub/package.json', 'ui/package.json']) {
      const range = readJson<{ engines: { node: string } }>(manifest).engines.node;
      expect(semver.minVersion(range)?.version, manifest).toBe(OLDEST_NODE);
    }
  });
});

describe('tests beside a running hub', () => {
  const scripts = readJson<{ scripts: Record<string, string> }>('package.json').scripts;
  const uiScripts = readJson<{ scripts: Record<string, string> }>('ui/package.json').scripts;

  it('build the UI for the tests into a directory of their own', () => {
    const servedByNpmStart = path.resolve(loadConfig({}, {}).uiDir);
    expect(path.resolve(TEST_UI_DIR)).not.toBe(servedByNpmStart);
    expect(scripts.test).toContain('npm run build:test');
    expect(scripts.test).not.toMatch(/npm run build(?![:\w])/);
    expect(scripts['build:test']).toContain('build:test -w ui');
    expect(uiScripts['build:test']).toContain(`AYI_UI_OUT=${path.basename(TEST_UI_DIR)}`);
    expect(readFileSync(path.join(REPO_ROOT, 'ui', 'svelte.config.js'), 'utf8')).toContain('process.env.AYI_UI_OUT');
  });
});
