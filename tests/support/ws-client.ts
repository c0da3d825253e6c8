/**
 * A tablet's WebSocket (`/api/ws`) over a real socket, with every message it receives kept in order
 * so a test can wait for the next one of a kind.
 */
import WebSocket from 'ws';
import type { ServerMessage } from '../../hub/src/protocol/api.ts';
import type { TabletClient } from './test-hub.ts';

export interface TabletSocket {
  ws: WebSocket;
  /** Everything received so far, oldest first. */
  received: ServerMessage[];
  /** The first message (already received or still to come) that matches, not yet taken by another call. */
  next<T extends ServerMessage['type']>(
    type: T,
    match?: (message: Extract<ServerMessage, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<ServerMessage, { type: T }>>;
  send(message: unknown): void;
  /** Resolves with the close code once the socket is closed. */
  closed: Promise<number>;
  close(): Promise<void>;
}

function wsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}/api/ws`;
}

/** Opens the socket with the tablet's device token and staff session; resolves once it is open. */
export function openTabletSocket(
  tablet: TabletClient,
  extraHeaders: Record<string, string> = {},
): Promise<TabletSocket> {
  const ws = new WebSocket(wsUrl(tablet.baseUrl), { headers: { ...tablet.headers(), ...extraHeaders } });
  const received: ServerMessage[] = [];
  const taken = new Set<ServerMessage>();
  const waiters: (() => void)[] = [];
  ws.on('message', (raw: Buffer) => {
    received.push(JSON.parse(raw.toString('utf8')) as ServerMessage);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));

  const socket: TabletSocket = {
    ws,
    received,
    closed,
    next(type, match, timeoutMs = 5000) {
      type M = Extract<ServerMessage, { type: typeof type }>;
      const find = () =>
        received.find((m): m is M => !taken.has(m) && m.type === type && (!match || match(m as M))) as M | undefined;
      return new Promise<M>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(received)}`)),
          timeoutMs,
        );
        const check = () => {
          const found = find();
          if (found) {
            taken.add(found);
            clearTimeout(timer);
            resolve(found);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await closed;
    },
  };

  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(socket));
    // Errors after the handshake show up as the close code; before it, they fail the open.
    ws.on('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`WebSocket handshake refused with HTTP ${res.statusCode}`)),
    );
  });
}

/**
 * Tries a WebSocket handshake that the hub should refuse; resolves with the HTTP status it answered
 * and its JSON body (or rejects if the socket was opened after all).
 */
export function refusedHandshake(
  baseUrl: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const ws = new WebSocket(wsUrl(baseUrl), { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      reject(new Error('the hub accepted a WebSocket it should have refused'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: { error?: { code: string; message: string } } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // not JSON: leave the body empty
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: {} }));
    });
    ws.on('error', (err) => reject(err));
  });
}
