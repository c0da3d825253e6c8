/**
 * The bench's peer for checkouts: the least any Node service can do to acknowledge a sale durably
 * over HTTP. A bare node:http server (no framework, no auth, no projection) that parses the posted
 * JSON, appends it as one line to a file and answers 201 once the line is fdatasync'd; requests
 * that arrive together share one fdatasync (group commit, as the hub's journal does). `POST /quote`
 * answers the same JSON without writing.
 *
 * Run as its own process, as the hub is, by tests/bench/run.ts: `node --import tsx
 * tests/bench/durable-floor-server.ts <file>`; prints `listening <port>` once ready, stops on SIGTERM.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';

const file = process.argv[2];
if (!file) throw new Error('usage: durable-floor-server.ts <file to append to>');
const handle = await fs.open(file, 'a', 0o600);

let waiting: { line: string; done: () => void }[] = [];
/** A flush is scheduled or running: new lines join it. */
let flushing = false;

/** Writes every line waiting, one write and one fdatasync per batch, then acknowledges them. */
async function flush(): Promise<void> {
  try {
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      await handle.write(Buffer.from(batch.map((entry) => entry.line).join(''), 'utf8'));
      await handle.datasync();
      for (const entry of batch) entry.done();
    }
  } finally {
    flushing = false;
  }
}

let seq = 0;
const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      response.writeHead(400).end();
      return;
    }
    const answer = JSON.stringify({ seq: ++seq, at: new Date().toISOString(), body });
    const reply = (status: number) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(answer);
    };
    if (request.url === '/quote') {
      reply(200);
      return;
    }
    waiting.push({ line: `${answer}\n`, done: () => reply(201) });
    // After this turn of the event loop, so the requests read together share the fdatasync.
    if (!flushing) {
      flushing = true;
      setImmediate(() => void flush());
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void handle.close().then(() => process.exit(0));
});
