/**
 * Reads a staff PIN for the technician's command line without it ever being an argument: from a
 * terminal, at a prompt that echoes nothing (asked twice, so a typo is caught); otherwise the first
 * line of stdin (scripts and tests pipe it in).
 */
import { createInterface } from 'node:readline';

export async function readPin(): Promise<string> {
  if (!process.stdin.isTTY) return firstLineOfStdin();
  const pin = await promptHidden('PIN: ');
  const again = await promptHidden('PIN again: ');
  if (pin !== again) throw new Error('The two PINs differ; nothing was changed');
  return pin;
}

async function firstLineOfStdin(): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return line.trim();
  }
  throw new Error('No PIN on stdin (type it at a terminal, or pipe it in on one line)');
}

/** A prompt on stderr; the keys typed are read raw and never echoed. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003') return finish(new Error('Cancelled; nothing was changed'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
