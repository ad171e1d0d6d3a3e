// Authorization mode `mac`: the 24 bytes of authorization data are a 64-bit sequence number and the first 16
// bytes of HMAC-SHA256(key, GUE header up to and including the sequence ‖ first 64 bytes of the inner packet).
// The inner header (addresses, protocol, ports: all the policy decides on) cannot be altered, and a replay
// window per sender rejects copies. Pure: no I/O.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAC_AUTH_LEN = 24;
const SEQ_OFF = 12; // from the start of the GUE header
const TAG_OFF = 20;
const TAG_LEN = 16;
const INNER_COVERED = 64;

function tag(buf: Buffer, hdrOff: number, innerOff: number, innerLen: number, key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(buf.subarray(hdrOff, hdrOff + TAG_OFF))
    .update(buf.subarray(innerOff, innerOff + Math.min(innerLen, INNER_COVERED)))
    .digest();
}

/** Writes sequence number and tag into a mode-`mac` header at hdrOff (inner packet already in place). */
export function sealMac(
  buf: Buffer,
  hdrOff: number,
  hdrLen: number,
  innerLen: number,
  key: Buffer,
  seq: number,
): void {
  buf.writeUInt32BE(Math.floor(seq / 0x100000000), hdrOff + SEQ_OFF);
  buf.writeUInt32BE(seq >>> 0, hdrOff + SEQ_OFF + 4);
  tag(buf, hdrOff, hdrOff + hdrLen, innerLen, key).copy(buf, hdrOff + TAG_OFF, 0, TAG_LEN);
}

/** True when the tag is right (constant-time compare). */
export function checkMac(
  buf: Buffer,
  hdrOff: number,
  hdrLen: number,
  innerLen: number,
  key: Buffer,
): boolean {
  const t = tag(buf, hdrOff, hdrOff + hdrLen, innerLen, key);
  return timingSafeEqual(t.subarray(0, TAG_LEN), buf.subarray(hdrOff + TAG_OFF, hdrOff + TAG_OFF + TAG_LEN));
}

export function readSeq(buf: Buffer, hdrOff: number): number {
  return buf.readUInt32BE(hdrOff + SEQ_OFF) * 0x100000000 + buf.readUInt32BE(hdrOff + SEQ_OFF + 4);
}

/**
 * Sequence numbers of one sender: microseconds since the epoch at start, then +1 per packet, so a restarted
 * sender continues above what receivers have seen (as long as it sends below 1 M packets/s on average).
 */
export class SeqCounter {
  private seq = Date.now() * 1000;
  next(): number {
    return ++this.seq;
  }
}

/** Sliding replay window of `size` sequence numbers below the highest one seen. */
export class ReplayWindow {
  private highest = -1;
  private readonly seen: Float64Array;
  constructor(private readonly size = 1024) {
    this.seen = new Float64Array(size).fill(-1);
  }
  /** Accepts (and records) seq unless it was seen already or is older than the window. */
  accept(seq: number): boolean {
    const slot = seq % this.size;
    if (seq > this.highest) {
      this.highest = seq;
    } else if (this.highest - seq >= this.size || this.seen[slot] === seq) {
      return false;
    }
    this.seen[slot] = seq;
    return true;
  }
}
