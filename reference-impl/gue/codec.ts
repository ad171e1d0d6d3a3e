// GUE (draft-ietf-intarea-gue, variant/version 0) with one private-data block carrying the overlay id, the key
// epoch and the authorization data. Wire format and rationale: ../README.md ("Wire format").
// Pure: no I/O. The decoder never throws and never allocates; it fills a caller-owned GueHeader with offsets
// into the datagram and returns 0 or a drop code.
import { timingSafeEqual } from 'node:crypto';
import { MAC_AUTH_LEN, checkMac } from './mac.ts';

export const PROTO_IPV4 = 4;
export const PROTO_IPV6 = 41;
/** Authorization modes. `mac` (per-packet HMAC + sequence number) is reserved: same field, different data. */
export const AUTH_KEY = 1;
export const AUTH_MAC = 2;

/** First word (ver/C/Hlen, proto, flags) + private-data fixed part (overlay id, mode, epoch, auth length, rsvd). */
export const FIXED_LEN = 12;
/** Hlen is 5 bits of 32-bit words after the first word. */
export const MAX_HEADER_LEN = 4 + 31 * 4;
export const MAX_AUTH_LEN = MAX_HEADER_LEN - FIXED_LEN;
/** Largest inner packet accepted (IPv4/IPv6 total length limit). */
export const MAX_INNER_LEN = 65535;

/** Drop codes (index into DROP_NAMES). 0 = accepted. */
export const DROP = {
  ok: 0,
  truncated: 1,
  oversized: 2,
  badVersion: 3,
  control: 4,
  badHlen: 5,
  unknownFlags: 6,
  badProto: 7,
  unknownMode: 8,
  badAuthLen: 9,
  badReserved: 10,
  badInner: 11,
  unknownOverlay: 12,
  badEpoch: 13,
  badKey: 14,
} as const;
export type DropName = keyof typeof DROP;
export const DROP_NAMES: readonly DropName[] = Object.keys(DROP) as DropName[];
/** Codes that mean "not a well-formed packet of this format" (counted as `malformed`). */
export function isMalformed(code: number): boolean {
  return code >= DROP.truncated && code <= DROP.badInner;
}

/** Decoded header: offsets into the datagram, reused across packets. */
export class GueHeader {
  hdrLen = 0;
  proto = 0;
  overlayId = 0;
  mode = 0;
  epoch = 0;
  authOff = 0;
  authLen = 0;
  innerOff = 0;
  innerLen = 0;
}

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function headerLength(authLen: number): number {
  return FIXED_LEN + pad4(authLen);
}

/**
 * Parses the GUE header of the datagram buf[off, off+len). Checks structure only; authorization is verify().
 */
export function decode(buf: Uint8Array, off: number, len: number, h: GueHeader): number {
  if (len < FIXED_LEN || off < 0 || off + len > buf.length) return DROP.truncated;
  const b0 = buf[off]!;
  if (b0 >> 6 !== 0) return DROP.badVersion;
  if ((b0 & 0x20) !== 0) return DROP.control;
  const hdrLen = 4 + (b0 & 0x1f) * 4;
  if (hdrLen < FIXED_LEN) return DROP.badHlen;
  if (len < hdrLen) return DROP.truncated;
  if (buf[off + 2] !== 0 || buf[off + 3] !== 0) return DROP.unknownFlags;
  const proto = buf[off + 1]!;
  if (proto !== PROTO_IPV4 && proto !== PROTO_IPV6) return DROP.badProto;
  const mode = buf[off + 8]!;
  if (mode !== AUTH_KEY && mode !== AUTH_MAC) return DROP.unknownMode;
  const authLen = buf[off + 10]!;
  if (authLen === 0 || FIXED_LEN + pad4(authLen) !== hdrLen) return DROP.badAuthLen;
  if (mode === AUTH_MAC && authLen !== MAC_AUTH_LEN) return DROP.badAuthLen;
  if (buf[off + 11] !== 0) return DROP.badReserved;
  const innerLen = len - hdrLen;
  if (innerLen > MAX_INNER_LEN) return DROP.oversized;
  if (innerLen < 1 || buf[off + hdrLen]! >> 4 !== (proto === PROTO_IPV4 ? 4 : 6)) return DROP.badInner;
  h.hdrLen = hdrLen;
  h.proto = proto;
  h.overlayId = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  h.mode = mode;
  h.epoch = buf[off + 9]!;
  h.authOff = off + FIXED_LEN;
  h.authLen = authLen;
  h.innerOff = off + hdrLen;
  h.innerLen = innerLen;
  return DROP.ok;
}

/** Accepted keys of one overlay, indexed by epoch. */
export class Keyring {
  private readonly keys: (Buffer | undefined)[] = new Array<Buffer | undefined>(256).fill(undefined);
  constructor(
    readonly overlayId: number,
    entries: Iterable<{ epoch: number; key: Buffer }> = [],
    /** The one mode this receiver accepts: a `mac` overlay must not take the weaker `key` packets. */
    readonly mode: number = AUTH_KEY,
  ) {
    for (const e of entries) this.set(e.epoch, e.key);
  }
  set(epoch: number, key: Buffer): void {
    if (epoch < 0 || epoch > 255 || key.length < 1 || key.length > MAX_AUTH_LEN) {
      throw new RangeError(`key epoch ${epoch} / length ${key.length} out of range`);
    }
    this.keys[epoch] = Buffer.from(key);
  }
  get(epoch: number): Buffer | undefined {
    return this.keys[epoch];
  }
  static fromHex(overlayId: number, entries: { epoch: number; key: string }[], mode = AUTH_KEY): Keyring {
    return new Keyring(
      overlayId,
      entries.map((e) => ({ epoch: e.epoch, key: Buffer.from(e.key, 'hex') })),
      mode,
    );
  }
}

/** Authorization of a decoded packet: overlay id, known epoch, key equal in constant time. */
export function verify(buf: Buffer, h: GueHeader, ring: Keyring): number {
  if (h.overlayId !== ring.overlayId) return DROP.unknownOverlay;
  if (h.mode !== ring.mode) return DROP.unknownMode;
  const key = ring.get(h.epoch);
  if (!key) return DROP.badEpoch;
  if (h.mode === AUTH_MAC) {
    return checkMac(buf, h.authOff - FIXED_LEN, h.hdrLen, h.innerLen, key) ? DROP.ok : DROP.badKey;
  }
  // Key lengths are public (they are on the wire); only the bytes are compared in constant time.
  if (key.length !== h.authLen) return DROP.badKey;
  return timingSafeEqual(buf.subarray(h.authOff, h.authOff + h.authLen), key) ? DROP.ok : DROP.badKey;
}

/**
 * Writes a header for `key` at buf[off…] and returns its length; the inner packet must follow at off + length.
 */
export function encodeHeader(
  buf: Buffer,
  off: number,
  proto: number,
  overlayId: number,
  epoch: number,
  key: Buffer,
): number {
  const hdrLen = headerLength(key.length);
  buf[off] = (hdrLen - 4) >> 2; // ver 0, C 0, Hlen
  buf[off + 1] = proto;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = overlayId >>> 24;
  buf[off + 5] = (overlayId >>> 16) & 0xff;
  buf[off + 6] = (overlayId >>> 8) & 0xff;
  buf[off + 7] = overlayId & 0xff;
  buf[off + 8] = AUTH_KEY;
  buf[off + 9] = epoch;
  buf[off + 10] = key.length;
  buf[off + 11] = 0;
  key.copy(buf, off + FIXED_LEN);
  buf.fill(0, off + FIXED_LEN + key.length, off + hdrLen);
  return hdrLen;
}

/** Writes a mode-`mac` header (sequence and tag still zero: sealMac fills them once the inner packet is in place). */
export function encodeMacHeader(
  buf: Buffer,
  off: number,
  proto: number,
  overlayId: number,
  epoch: number,
): number {
  const hdrLen = encodeHeader(buf, off, proto, overlayId, epoch, ZERO_MAC);
  buf[off + 8] = AUTH_MAC;
  return hdrLen;
}
const ZERO_MAC = Buffer.alloc(MAC_AUTH_LEN);

/** Replaces epoch and key of a decoded packet in place; false when the new key needs a different length. */
export function rewriteAuth(buf: Buffer, h: GueHeader, epoch: number, key: Buffer): boolean {
  if (key.length !== h.authLen) return false;
  buf[h.authOff - 3] = epoch;
  key.copy(buf, h.authOff);
  h.epoch = epoch;
  return true;
}
