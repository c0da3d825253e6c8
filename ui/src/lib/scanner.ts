/**
 * Keyboard-wedge barcode scanners "type" the code very fast and finish with Enter, into whatever
 * has focus. This listener (on window, capture phase) buffers printable keys that arrive less than
 * ~50 ms apart; an Enter right after such a burst is a scan. The Enter is swallowed (so it does not
 * press a focused button), and characters the burst typed into a text field are taken back out.
 *
 * Key events aimed at an element marked `data-scan-target` are left alone: that input handles
 * scans and typed searches itself.
 *
 * With no text field focused nobody can be typing anything else, so there the keys may come slower
 * (a busy tablet delivers a scanner's burst unevenly, and a cashier may key a code in by hand).
 */
export interface ScannerOptions {
  onScan: (code: string) => void;
  /** Max gap between keys of one scan typed into a text field. */
  maxGapMs?: number;
  /** Max gap between keys of a code typed with no text field focused. */
  unfocusedGapMs?: number;
  /** Shortest code accepted as a scan. */
  minLength?: number;
}

type TextField = HTMLInputElement | HTMLTextAreaElement;

function isTextField(el: EventTarget | null): el is TextField {
  if (el instanceof HTMLTextAreaElement) return true;
  if (!(el instanceof HTMLInputElement)) return false;
  return ['text', 'search', 'number', 'tel', 'password', 'email', 'url', ''].includes(el.type);
}

export function installScanner(opts: ScannerOptions): () => void {
  const maxGap = opts.maxGapMs ?? 50;
  const unfocusedGap = opts.unfocusedGapMs ?? 1500;
  const minLength = opts.minLength ?? 6;
  let buffer = '';
  let lastAt = 0;
  let field: TextField | null = null;
  let fieldBefore = '';

  const reset = () => {
    buffer = '';
    field = null;
  };

  const onKeyDown = (ev: KeyboardEvent) => {
    if (ev.ctrlKey || ev.altKey || ev.metaKey || ev.isComposing) {
      reset();
      return;
    }
    const target = ev.target;
    if (target instanceof HTMLElement && target.closest('[data-scan-target]')) {
      reset();
      return;
    }
    const now = performance.now();
    const gap = now - lastAt;
    const limit = isTextField(target) ? maxGap : unfocusedGap;

    if (ev.key === 'Enter') {
      const code = buffer;
      const wasFast = gap <= limit * 2;
      const f = field;
      const before = fieldBefore;
      reset();
      lastAt = now;
      if (wasFast && code.length >= minLength) {
        ev.preventDefault();
        ev.stopPropagation();
        if (f && f.value.endsWith(code)) {
          f.value = before;
          f.dispatchEvent(new Event('input', { bubbles: true }));
        }
        opts.onScan(code);
      }
      return;
    }

    if (ev.key.length !== 1) {
      if (ev.key !== 'Shift') reset();
      return;
    }

    if (gap > limit || buffer === '') {
      // A new burst (or a person typing): start over with this key.
      buffer = ev.key;
      field = isTextField(target) ? target : null;
      fieldBefore = field ? field.value : '';
    } else {
      buffer += ev.key;
    }
    lastAt = now;
  };

  window.addEventListener('keydown', onKeyDown, true);
  return () => window.removeEventListener('keydown', onKeyDown, true);
}
