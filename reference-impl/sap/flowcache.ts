// Flow cache of allowed 5-tuples: fixed-size open addressing in typed arrays, so lookups and inserts allocate
// nothing. Entries expire after an idle time; clear() is O(1) (generation bump) and runs on every config change.

const WAYS = 8;

export class FlowCache {
  private readonly mask: number;
  private readonly keys: Uint32Array; // 4 words per slot: src, dst, sport<<16|dport, proto
  private readonly seen: Float64Array;
  private readonly gens: Uint32Array;
  private gen = 1;
  size = 0;

  constructor(
    capacity = 1 << 16,
    public idleMs = 120_000,
  ) {
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * 4);
    this.seen = new Float64Array(cap);
    this.gens = new Uint32Array(cap);
  }

  clear(): void {
    this.gen = (this.gen + 1) >>> 0 || 1;
    this.size = 0;
  }

  private static hash(src: number, dst: number, ports: number, proto: number): number {
    let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ dst, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ ports, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 15) ^ proto, 0x165667b1);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** True (and refreshes the entry) when the tuple is cached and not idle for longer than idleMs. */
  has(src: number, dst: number, proto: number, sport: number, dport: number, now: number): boolean {
    const ports = ((sport << 16) | dport) >>> 0;
    const h = FlowCache.hash(src, dst, ports, proto);
    for (let i = 0; i < WAYS; i++) {
      const s = (h + i) & this.mask;
      if (this.gens[s] !== this.gen) continue;
      const k = s * 4;
      if (
        this.keys[k] === src &&
        this.keys[k + 1] === dst &&
        this.keys[k + 2] === ports &&
        this.keys[k + 3] === proto
      ) {
        if (now - this.seen[s]! > this.idleMs) return false;
        this.seen[s] = now;
        return true;
      }
    }
    return false;
  }

  /** Caches the tuple; when all ways are taken, the least recently seen one is replaced. */
  add(src: number, dst: number, proto: number, sport: number, dport: number, now: number): void {
    const ports = ((sport << 16) | dport) >>> 0;
    const h = FlowCache.hash(src, dst, ports, proto);
    let victim = -1;
    let oldest = Infinity;
    for (let i = 0; i < WAYS; i++) {
      const s = (h + i) & this.mask;
      const k = s * 4;
      if (this.gens[s] !== this.gen) {
        if (victim < 0 || oldest !== -Infinity) {
          victim = s;
          oldest = -Infinity;
        }
        continue;
      }
      if (
        this.keys[k] === src &&
        this.keys[k + 1] === dst &&
        this.keys[k + 2] === ports &&
        this.keys[k + 3] === proto
      ) {
        this.seen[s] = now;
        return;
      }
      if (this.seen[s]! < oldest) {
        oldest = this.seen[s]!;
        victim = s;
      }
    }
    const k = victim * 4;
    if (this.gens[victim] !== this.gen) this.size++;
    this.keys[k] = src;
    this.keys[k + 1] = dst;
    this.keys[k + 2] = ports;
    this.keys[k + 3] = proto;
    this.seen[victim] = now;
    this.gens[victim] = this.gen;
  }

  /** Caches both directions of an allowed flow so replies pass. */
  addFlow(src: number, dst: number, proto: number, sport: number, dport: number, now: number): void {
    this.add(src, dst, proto, sport, dport, now);
    this.add(dst, src, proto, dport, sport, now);
  }
}
