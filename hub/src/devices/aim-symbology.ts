/**
 * AIM symbology identifiers (ISO/IEC 15424): a scanner set up to send them puts `]` + a code
 * character + a modifier digit before every code, e.g. `]E0` EAN-13 / UPC-A, `]C1` GS1-128,
 * `]Q1` QR Code, `]d2` GS1 DataMatrix. The identifier is not part of the code: it is stripped and
 * kept apart. A code without one (most scanners' default) is kept as it is.
 */

/** `]`, a letter (the symbology), a digit (its options). */
const AIM_RE = /^\][A-Za-z][0-9]/;

export interface AimParsed {
  /** The code without the identifier. */
  code: string;
  /** The identifier ("]E0"), or null when the scanner sent none. */
  symbology: string | null;
}

/** Splits a leading AIM identifier off a scanned code. */
export function parseAim(raw: string): AimParsed {
  if (raw.length > 3 && AIM_RE.test(raw)) return { code: raw.slice(3), symbology: raw.slice(0, 3) };
  return { code: raw, symbology: null };
}

/** Symbology families by AIM code character (for the admin page and logs; modifiers vary). */
const FAMILIES: Record<string, string> = {
  A: 'Code 39',
  C: 'Code 128',
  d: 'Data Matrix',
  E: 'EAN/UPC',
  F: 'Codabar',
  G: 'Code 93',
  I: 'Interleaved 2 of 5',
  L: 'PDF417',
  Q: 'QR Code',
  e: 'GS1 DataBar',
  z: 'Aztec',
};

/** A readable name for an identifier: "]C1" is GS1-128, "]E0" EAN-13; null when unknown. */
export function symbologyName(symbology: string | null): string | null {
  if (!symbology || !AIM_RE.test(symbology)) return null;
  if (symbology === ']C1') return 'GS1-128';
  if (symbology === ']E0') return 'EAN-13';
  if (symbology === ']E4') return 'EAN-8';
  if (symbology === ']d2') return 'GS1 DataMatrix';
  if (symbology === ']Q3') return 'GS1 QR Code';
  return FAMILIES[symbology[1]!] ?? null;
}
