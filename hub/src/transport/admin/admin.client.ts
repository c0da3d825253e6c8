/** Client of the hub's technician socket (see admin.socket.ts). */
import net from 'node:net';

export async function adminRequest<T = unknown>(
  socketPath: string,
  command: string,
  args: string[] = [],
  timeoutMs = 10_000,
): Promise<T> {
  const reply = await new Promise<string>((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    let data = '';
    conn.setEncoding('utf8');
    conn.setTimeout(timeoutMs, () =>
      conn.destroy(new Error(`the hub did not answer within ${Math.round(timeoutMs / 1000)} s`)),
    );
    conn.on('connect', () => conn.write(`${JSON.stringify({ command, args })}\n`));
    conn.on('data', (chunk: string) => (data += chunk));
    conn.on('end', () => resolve(data));
    conn.on('error', reject);
  });
  const parsed = JSON.parse(reply) as { ok: boolean; result?: T; error?: string };
  if (!parsed.ok) throw new Error(parsed.error ?? 'the hub refused the command');
  return parsed.result as T;
}
