/**
 * USB HID boot keyboard reports (what a keyboard-mode scanner "types") back to text, US layout.
 *
 * A boot report is 8 bytes: modifiers (bit 1 left shift, bit 5 right shift, bits 0/4 ctrl,
 * bits 2/6 alt), a reserved byte, then up to six key codes held down at that moment. A key counts
 * once when it appears: held in the next report too (rollover), it is not typed again; a scanner
 * typing "AA" releases the key in between. Enter (main or keypad) ends a scan.
 */

const MOD_CTRL = 0x01 | 0x10;
const MOD_SHIFT = 0x02 | 0x20;
const MOD_ALT = 0x04 | 0x40;

/** Every slot says "too many keys": the report tells nothing about which keys are down. */
const KEY_ERROR_ROLLOVER = 0x01;
const KEY_ENTER = 0x28;
const KEY_KEYPAD_ENTER = 0x58;
/** `]` with ctrl: ASCII GS, the FNC1 separator of GS1 codes as scanners type it. */
const KEY_RIGHT_BRACKET = 0x30;
const GS = '\x1d';

/** [unshifted, shifted] for the keys a barcode can type. */
const KEYS = new Map<number, readonly [string, string]>();
for (let i = 0; i < 26; i++) {
  const lower = String.fromCharCode(0x61 + i);
  KEYS.set(0x04 + i, [lower, lower.toUpperCase()]);
}
const DIGIT_ROW = '1234567890';
const DIGIT_SHIFTED = '!@#$%^&*()';
for (let i = 0; i < 10; i++) KEYS.set(0x1e + i, [DIGIT_ROW[i]!, DIGIT_SHIFTED[i]!]);
const PUNCTUATION: [number, string, string][] = [
  [0x2c, ' ', ' '],
  [0x2d, '-', '_'],
  [0x2e, '=', '+'],
  [0x2f, '[', '{'],
  [0x30, ']', '}'],
  [0x31, '\\', '|'],
  [0x32, '#', '~'], // non-US "#": US keyboards do not have it, some scanners still send it
  [0x33, ';', ':'],
  [0x34, "'", '"'],
  [0x35, '`', '~'],
  [0x36, ',', '<'],
  [0x37, '.', '>'],
  [0x38, '/', '?'],
  // Keypad (num lock on: scanners set to "numeric keypad" mode send digits this way).
  [0x54, '/', '/'],
  [0x55, '*', '*'],
  [0x56, '-', '-'],
  [0x57, '+', '+'],
  [0x62, '0', '0'],
  [0x63, '.', '.'],
];
for (const [key, plain, shifted] of PUNCTUATION) KEYS.set(key, [plain, shifted]);
for (let i = 0; i < 9; i++) KEYS.set(0x59 + i, [String(i + 1), String(i + 1)]);

/** The character one key press types, or null (Enter, modifiers, function keys, alt combinations). */
export function keyToChar(keyCode: number, modifiers: number): string | null {
  if (modifiers & MOD_ALT) return null;
  if (modifiers & MOD_CTRL) return keyCode === KEY_RIGHT_BRACKET ? GS : null;
  const pair = KEYS.get(keyCode);
  if (!pair) return null;
  return modifiers & MOD_SHIFT ? pair[1] : pair[0];
}

/** Longest scan kept; a stuck key or a runaway device is cut off here. */
export const MAX_SCAN_LENGTH = 512;

/** Feeds boot reports in order; hands back each scan that an Enter completes. */
export class BootKeyboardDecoder {
  private held = new Set<number>();
  private buffer = '';
  /** The scan ran past MAX_SCAN_LENGTH: it is dropped at its Enter. */
  private overflow = false;

  /** One report (8 bytes; a longer one is read up to its first 8). Returns the scans it ended. */
  push(report: Uint8Array): string[] {
    if (report.length < 3) return [];
    const modifiers = report[0]!;
    const keys: number[] = [];
    for (let i = 2; i < Math.min(report.length, 8); i++) {
      const key = report[i]!;
      if (key !== 0) keys.push(key);
    }
    // Phantom state: keep what was held, type nothing.
    if (keys.length > 0 && keys.every((k) => k === KEY_ERROR_ROLLOVER)) return [];
    const scans: string[] = [];
    for (const key of keys) {
      if (this.held.has(key)) continue;
      if (key === KEY_ENTER || key === KEY_KEYPAD_ENTER) {
        if (this.buffer.length > 0 && !this.overflow) scans.push(this.buffer);
        this.buffer = '';
        this.overflow = false;
        continue;
      }
      const char = keyToChar(key, modifiers);
      if (char === null) continue;
      if (this.buffer.length < MAX_SCAN_LENGTH) this.buffer += char;
      else this.overflow = true;
    }
    this.held = new Set(keys);
    return scans;
  }

  /** Forgets a half-typed scan (the device went away). */
  reset(): void {
    this.held.clear();
    this.buffer = '';
    this.overflow = false;
  }
}
