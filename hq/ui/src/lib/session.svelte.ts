/** Who is signed in to the dashboard, and what their role lets them open. */
import type { HqRole } from '$hq/http/route-deps';
import { api } from './api';

export interface Me {
  username: string;
  role: HqRole;
  mustChangePassword?: boolean;
}

class Session {
  me = $state<Me | null>(null);
  checked = $state(false);

  async load(): Promise<Me | null> {
    try {
      this.me = await api<Me>('GET', '/api/session', undefined, { redirectOn401: false });
    } catch {
      this.me = null;
    }
    this.checked = true;
    return this.me;
  }

  can(...roles: HqRole[]): boolean {
    return this.me !== null && roles.includes(this.me.role);
  }

  async signOut(): Promise<void> {
    await api('DELETE', '/api/session', undefined, { redirectOn401: false }).catch(() => undefined);
    this.me = null;
  }
}

export const session = new Session();
