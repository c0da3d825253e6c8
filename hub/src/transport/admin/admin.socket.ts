/**
 * The technician's door: a Unix socket in the data directory (mode 0600, so only the hub's user and
 * root can use it), one JSON request per line. Used by `npm run ayi -- <command>`.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';

/**
 * The longest request line: a catalog CSV of up to 2 MiB (`ayi catalog-import`) as a JSON string,
 * with room for its escapes. Only root and the hub's user can open the socket.
 */
const MAX_REQUEST_CHARS = 6 * 1024 * 1024;

export type AdminHandler = (command: string, args: string[]) => Promise<unknown>;

export async function startAdminSocket(socketPath: string, handle: AdminHandler): Promise<{ close(): Promise<void> }> {
  await fs.rm(socketPath, { force: true });
  const server = net.createServer((conn) => {
    let buffer = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_CHARS) return conn.destroy();
      const newline = buffer.indexOf('\n');
      if (newline === -1) return;
      const line = buffer.slice(0, newline);
      buffer = '';
      void answer(line).then((reply) => conn.end(`${JSON.stringify(reply)}\n`));
    });
    conn.on('error', () => conn.destroy());
  });

  async function answer(line: string): Promise<unknown> {
    try {
      const request = JSON.parse(line) as { command?: unknown; args?: unknown };
      if (typeof request.command !== 'string') return { ok: false, error: 'missing command' };
      const args = Array.isArray(request.args) ? request.args.map(String) : [];
      return { ok: true, result: await handle(request.command, args) };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await fs.chmod(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}
