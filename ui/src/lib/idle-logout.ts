/**
 * A counter left alone logs its staff member out by itself: nobody who walks up to an unattended
 * tablet carries on in someone else's name or sees their customer (the sale on screen is parked,
 * see parked-sales). Any touch, key or scan counts as activity.
 */
export const IDLE_LOGOUT_MS = 15 * 60_000;
/** How often the quiet time is checked (a timer per key would cost a cheap tablet on every scan). */
const CHECK_EVERY_MS = 15_000;
const ACTIVITY_EVENTS = ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const;

/** Calls `onIdle` once the tablet has had no input for `idleMs`; returns the function that stops watching. */
export function watchIdle(onIdle: () => void, idleMs = IDLE_LOGOUT_MS): () => void {
  let lastActivity = Date.now();
  const touched = () => {
    lastActivity = Date.now();
  };
  for (const type of ACTIVITY_EVENTS) window.addEventListener(type, touched, { capture: true, passive: true });
  const timer = setInterval(() => {
    if (Date.now() - lastActivity < idleMs) return;
    lastActivity = Date.now();
    onIdle();
  }, CHECK_EVERY_MS);
  return () => {
    clearInterval(timer);
    for (const type of ACTIVITY_EVENTS) window.removeEventListener(type, touched, { capture: true });
  };
}
