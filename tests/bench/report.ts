/**
 * What the checkout and memory benches print: progress on stderr, one JSON line per metric on stdout
 * (the format `npm run bench` readers expect), and a failure as a stack trace with exit status 1.
 */
import { rmSync } from 'node:fs';
import { round } from '../../scripts/lib/stats.ts';

export const progress = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

export function emit(metric: string, value: number, unit: string, baseline: number, ratio: number): void {
  process.stdout.write(
    `${JSON.stringify({ metric, value: round(value, 3), unit, baseline: round(baseline, 3), ratio: round(ratio, 3) })}\n`,
  );
}

/** Removes the bench's temporary directory, unless AYI_BENCH_KEEP=1 asks to keep it for a look. */
export function removeUnlessKept(root: string): void {
  if (process.env.AYI_BENCH_KEEP === '1') progress(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`[bench] failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
