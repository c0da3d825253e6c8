/**
 * One WebSocket per tablet (`/api/ws`): live sales from every tablet, and checkout requests.
 * The handshake needs a paired device and, from a browser, the hub's own Origin.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from '@fastify/websocket';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ClientMessage, type ServerMessage, type StaffView } from '../../protocol/api.js';
import type { HubEvent } from '../../protocol/events.js';
import { DomainError } from '../../domain/errors.js';
import { roleAtLeast } from '../../services/security.service.js';
import type { HttpContext } from '../http/app.js';
import { sessionTokenOf } from '../http/auth.js';
import { toApiError } from '../http/errors.js';
import { isAllowedOrigin } from '../http/security-headers.js';

const clientMessage = TypeCompiler.Compile(ClientMessage);

/** Closed by the hub because the device's pairing was revoked. */
export const CLOSE_REVOKED = 4401;

interface Connection {
  socket: WebSocket;
  deviceId: string;
  sessionToken: string | undefined;
}

export async function tabletSocket(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const connections = new Set<Connection>();

  const send = (socket: WebSocket, message: ServerMessage) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };

  const broadcastFor = (event: HubEvent): ServerMessage | null => {
    switch (event.type) {
      case 'sale.completed':
      case 'sale.voided':
      case 'sale.refunded':
        return { type: 'sale', sale: ctx.checkout.get(event.data.saleId) };
      case 'catalog.imported':
        return { type: 'catalog.changed', products: ctx.catalog.list().length };
      default:
        return null;
    }
  };

  /**
   * Sales and member changes go only to sockets whose staff session still authenticates, checked
   * at send time (sessions expire, staff log out): a paired tablet nobody is logged in on sees no
   * sales. `catalog.changed` (a product count, nothing personal) still goes to every paired tablet.
   */
  const broadcast = (message: ServerMessage, needsStaff: boolean, staffOf: (c: Connection) => boolean) => {
    const text = JSON.stringify(message);
    for (const connection of connections) {
      const { socket } = connection;
      if (socket.readyState !== socket.OPEN) continue;
      if (needsStaff && !staffOf(connection)) continue;
      socket.send(text);
    }
  };

  const offCommitted = ctx.bus.on('event.committed', (event) => {
    if (connections.size === 0) return;
    // One session check per socket per event, however many messages the event makes.
    const checked = new Map<Connection, boolean>();
    const staffOf = (connection: Connection): boolean => {
      let ok = checked.get(connection);
      if (ok === undefined) {
        ok = ctx.security.authenticateStaff(connection.deviceId, connection.sessionToken) !== null;
        checked.set(connection, ok);
      }
      return ok;
    };
    const message = broadcastFor(event);
    if (message) broadcast(message, message.type !== 'catalog.changed', staffOf);
    for (const memberId of membersNamedBy(event)) {
      broadcast({ type: 'member.changed', memberId }, true, staffOf);
    }
  });
  const offRevoked = ctx.bus.on('device.revoked', ({ deviceId }) => {
    for (const connection of connections) {
      if (connection.deviceId === deviceId) connection.socket.close(CLOSE_REVOKED, 'device revoked');
    }
  });
  /**
   * A hardware scanner's code goes to the sockets of the tablet it is assigned to, and only while
   * staff are logged in there (it may be a member code or a carrier barcode).
   */
  const offScan = ctx.bus.on('scanner.scan', (scan) => {
    const message: ServerMessage = {
      type: 'scan',
      scannerId: scan.scannerId,
      code: scan.code,
      symbology: scan.symbology,
    };
    // The tablet's newest logged-in socket only: two open tabs must not both add the item.
    let newest: Connection | null = null;
    for (const connection of connections) {
      if (connection.deviceId !== scan.deviceId) continue;
      const { socket } = connection;
      if (socket.readyState !== socket.OPEN) continue;
      if (ctx.security.authenticateStaff(connection.deviceId, connection.sessionToken) === null) continue;
      newest = connection; // a Set iterates in insertion order: the last one found is the newest
    }
    if (newest) newest.socket.send(JSON.stringify(message));
    const delivered = newest ? 1 : 0;
    if (delivered === 0) {
      app.log.warn(
        { scannerId: scan.scannerId, deviceId: scan.deviceId },
        'scan not delivered: tablet not connected or nobody logged in',
      );
    }
  });
  /** Printer and scanner states go to every logged-in tablet (the top bar warns of paper out). */
  const offDevice = ctx.bus.on('device.status', (device) => {
    const staffOf = (connection: Connection) =>
      ctx.security.authenticateStaff(connection.deviceId, connection.sessionToken) !== null;
    broadcast({ type: 'device.status', device }, true, staffOf);
  });
  /** A full disk is every tablet's business (logged in or not): the banner says to call support. */
  const offStorage = ctx.bus.on('storage.changed', (view) => {
    broadcast({ type: 'storage', state: view.state }, false, () => true);
  });
  /** So is a clock behind the journal: no sale can be saved until time sync. */
  const offClock = ctx.bus.on('clock.changed', (view) => {
    broadcast({ type: 'clock', state: view.state }, false, () => true);
  });
  app.addHook('onClose', async () => {
    offClock();
    offStorage();
    offCommitted();
    offRevoked();
    offScan();
    offDevice();
  });

  app.get(
    '/api/ws',
    {
      websocket: true,
      preValidation: async (request) => {
        if (!isAllowedOrigin(request, ctx.config.allowedOrigins)) {
          throw new DomainError(
            'origin_not_allowed',
            'WebSocket connections are only accepted from the hub’s own pages',
            undefined,
            403,
          );
        }
      },
    },
    (socket, request) => {
      const connection: Connection = {
        socket,
        deviceId: request.device!.deviceId,
        sessionToken: sessionTokenOf(request),
      };
      connections.add(connection);
      socket.on('close', () => connections.delete(connection));
      const health = ctx.health();
      send(socket, {
        type: 'hello',
        storeId: ctx.config.storeId,
        deviceId: connection.deviceId,
        staff: request.staff,
        lastSeq: health.lastSeq,
        storage: health.storage.state,
        clock: health.clock.state,
      });
      socket.on('message', (raw: Buffer) => {
        void handleMessage(connection, raw.toString('utf8')).catch((err: unknown) => {
          request.log.error({ err }, 'websocket message failed');
        });
      });
    },
  );

  async function handleMessage(connection: Connection, text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return send(connection.socket, {
        type: 'error',
        error: { code: 'invalid_json', message: 'The message is not valid JSON' },
      });
    }
    const requestId =
      typeof message === 'object' &&
      message !== null &&
      typeof (message as { requestId?: unknown }).requestId === 'string'
        ? (message as { requestId: string }).requestId
        : undefined;
    if (!clientMessage.Check(message)) {
      const first = clientMessage.Errors(message).First();
      return send(connection.socket, {
        type: 'error',
        ...(requestId ? { requestId } : {}),
        error: {
          code: 'invalid_request',
          message: first ? `${first.path || 'message'} ${first.message}` : 'Invalid message',
        },
      });
    }
    try {
      switch (message.type) {
        case 'ping':
          return send(connection.socket, { type: 'pong', requestId: message.requestId });
        case 'checkout': {
          const staff = currentStaff(connection);
          const result = await ctx.checkout.checkout(message.sale, { deviceId: connection.deviceId, staff });
          return send(connection.socket, { type: 'checkout.result', requestId: message.requestId, ...result });
        }
      }
    } catch (err) {
      send(connection.socket, { type: 'error', requestId: message.requestId, error: toApiError(err).body.error });
    }
  }

  /** The session is checked on every message: a revoked or expired one stops working at once. */
  function currentStaff(connection: Connection): StaffView {
    const staff = ctx.security.authenticateStaff(connection.deviceId, connection.sessionToken);
    if (!staff) throw new DomainError('staff_login_required', 'Log in with your staff PIN first', undefined, 401);
    if (!roleAtLeast(staff.role, 'cashier'))
      throw new DomainError('role_required', 'This needs a cashier', undefined, 403);
    return staff;
  }
}

/**
 * The members whose record an event changes, for `member.changed`: member.* events (both sides of
 * a merge), expired points, issued coupons, and sales, voids and refunds of a member's sale.
 */
export function membersNamedBy(event: HubEvent): string[] {
  const ids: unknown[] = [];
  const data = event.data as unknown as Record<string, unknown>;
  switch (event.type) {
    case 'sale.completed':
      ids.push(event.data.memberId);
      break;
    case 'sale.voided':
    case 'sale.refunded':
      ids.push(event.data.loyalty?.memberId);
      break;
    case 'points.expired':
    case 'coupon.issued':
      ids.push(event.data.memberId);
      break;
    default:
      // Every member.* event, those added later included, names its member(s) the same way.
      if (event.type.startsWith('member.')) ids.push(data.memberId, data.fromMemberId, data.intoMemberId);
  }
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id !== ''))];
}
