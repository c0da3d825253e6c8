/** A security service's journal hooks that record nothing, for tests of the service alone. */
import type { SecurityEvents } from '../../hub/src/services/security.service.ts';

export const NO_SECURITY_EVENTS: SecurityEvents = {
  devicePaired: async () => undefined,
  deviceRevoked: async () => undefined,
  staffAdded: async () => undefined,
  staffRemoved: async () => undefined,
  staffPinChanged: async () => undefined,
  deviceUnlocked: async () => undefined,
};
