/**
 * The ESC/POS decoder for tests: bytes back to text lines, QR data, CODE128 data, cuts, drawer kicks
 * and status requests, failing on any command it does not know. It lives in the hub (the virtual
 * printer shows receipts decoded from the same bytes a real printer gets); tests import it here.
 */
export {
  decodeEscPos,
  EscPosDecodeError,
  type DecodedPrint,
  type DecodeOptions,
} from '../../hub/src/devices/escpos/escpos-decoder.ts';
