// Fixed-size bitsets over endpoint indices: the index structure that keeps truth tables to set lookups.
export type Bitset = Uint32Array;

export function newBitset(size: number): Bitset {
  return new Uint32Array((size + 31) >>> 5);
}

export function bitHas(b: Bitset, i: number): boolean {
  return ((b[i >>> 5]! >>> (i & 31)) & 1) === 1;
}

export function bitSet(b: Bitset, i: number): void {
  b[i >>> 5]! |= 1 << (i & 31);
}

export function bitOrInto(target: Bitset, src: Bitset): void {
  for (let w = 0; w < target.length; w++) target[w]! |= src[w]!;
}

/** target |= a & b */
export function bitAndOrInto(target: Bitset, a: Bitset, b: Bitset): void {
  for (let w = 0; w < target.length; w++) target[w]! |= a[w]! & b[w]!;
}

export function bitFill(b: Bitset, size: number): void {
  for (let i = 0; i < size; i++) bitSet(b, i);
}

export function bitIndices(b: Bitset): number[] {
  const out: number[] = [];
  for (let w = 0; w < b.length; w++) {
    let word = b[w]!;
    while (word !== 0) {
      const t = word & -word;
      out.push((w << 5) + (31 - Math.clz32(t)));
      word ^= t;
    }
  }
  return out;
}
