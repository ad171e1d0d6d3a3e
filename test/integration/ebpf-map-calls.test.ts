// The addon's bpf(2) map calls (native/bpf.ts) and the loader's versioned writes on top of them, checked
// against an independent reader (bpftool map dump). Loads sap.bpf.o under a pin directory of this test's own
// prefix (nothing is attached to any interface) and removes it, also on failure. Root.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject, BPFFS } from '../../reference-impl/ebpf/loader.ts';
import type { MapEntry } from '../../reference-impl/ebpf/maps.ts';
import { PinnedMap, possibleCpus } from '../../reference-impl/native/bpf.ts';

const DIR = path.join(BPFFS, `tbmapt${process.pid}`);
let obj: BpfObject;
/** The endpoint value's size as the loaded object declares it (maps.ts writes that layout). */
let epValue = 0;

/** The map's entries as bpftool reads them: hex key → hex value. */
function dump(map: string): Map<string, string> {
  const rows = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path.join(obj.mapDir, map)], {
      encoding: 'utf8',
    }),
  ) as { key: string[]; value: string[] }[];
  const hex = (xs: string[]) => Buffer.from(xs.map((x) => parseInt(x, 16))).toString('hex');
  return new Map(rows.map((r) => [hex(r.key), hex(r.value)]));
}

const endpoint = (slot: number, ip: number, v: number): MapEntry => {
  const key = Buffer.alloc(8);
  key.writeUInt32LE(slot);
  key.writeUInt32BE(ip, 4);
  const value = Buffer.alloc(epValue);
  value.writeUInt32LE(v, 12);
  return { map: 'endpoints', key, value };
};

beforeAll(() => {
  obj = new BpfObject('sap', DIR);
  const m = new PinnedMap(path.join(obj.mapDir, 'endpoints'));
  epValue = m.valueSize;
  m.close();
});
afterAll(() => {
  obj?.close();
  expect(fs.existsSync(DIR)).toBe(false);
});

describe('bpf(2) map calls from the addon', () => {
  it('writes, reads back and deletes hash entries as bpftool sees them', () => {
    const m = new PinnedMap(path.join(obj.mapDir, 'endpoints'));
    try {
      expect(m.keySize).toBe(8);
      expect(m.valueSize).toBeGreaterThanOrEqual(16);
      const a = endpoint(0, 0x0a000001, 1);
      const b = endpoint(0, 0x0a000002, 2);
      m.update([a.key, b.key], [a.value, b.value]);
      expect(dump('endpoints').get(a.key.toString('hex'))).toBe(a.value.toString('hex'));
      expect(m.lookup(b.key)?.equals(b.value)).toBe(true);
      expect(m.delete([a.key, a.key, b.key])).toBe(2);
      expect(m.lookup(a.key)).toBeUndefined();
      expect(dump('endpoints').size).toBe(0);
    } finally {
      m.close();
    }
  });

  it('refuses entries of the wrong size and names the map, and a missing pin by its path', () => {
    const m = new PinnedMap(path.join(obj.mapDir, 'endpoints'));
    try {
      expect(() => m.update([Buffer.alloc(4)], [Buffer.alloc(epValue)])).toThrow(/endpoints: key of 4 bytes/);
    } finally {
      m.close();
    }
    expect(() => new PinnedMap(path.join(DIR, 'nope'))).toThrow(/BPF_OBJ_GET .*nope: No such file/);
  });

  it('reads per-CPU counters as one value per possible CPU (all zero before any packet)', () => {
    const c = obj.counters();
    expect(c.length).toBe(new PinnedMap(path.join(obj.mapDir, 'counters')).maxEntries);
    expect(c.every((v) => v === 0)).toBe(true);
    expect(possibleCpus()).toBeGreaterThan(0);
  });
});

describe('versioned programming (BpfObject.program)', () => {
  it('leaves each slot holding exactly its version and flips `active` last', () => {
    const v = (n: number, ips: number[]) => ips.map((ip) => endpoint(obj.nextSlot(), ip, n));
    const slotOf = (rows: Map<string, string>, slot: number) =>
      [...rows].filter(([k]) => k.startsWith(Buffer.from([slot, 0, 0, 0]).toString('hex'))).sort();
    const want = (es: MapEntry[]) =>
      es.map((e) => [e.key.toString('hex'), e.value.toString('hex')] as [string, string]).sort();

    const v1 = v(1, [1, 2, 3]);
    expect(obj.program(v1, 1).slot).toBe(0);
    const v2 = v(2, [2, 4]);
    expect(obj.program(v2, 2).slot).toBe(1);
    // Version 3 goes into slot 0 over version 1: ip 1 and 3 gone, 2 rewritten with the new value, 5 added.
    const v3 = v(3, [2, 5]);
    const r3 = obj.program(v3, 3);
    expect(r3.slot).toBe(0);
    const rows = dump('endpoints');
    expect(slotOf(rows, 0)).toEqual(want(v3));
    expect(slotOf(rows, 1)).toEqual(want(v2));
    const active = dump('active').get('00000000')!;
    expect(active).toBe(Buffer.from([0, 0, 0, 0, 3, 0, 0, 0]).toString('hex'));
    // An unchanged version writes only the flip.
    expect(obj.program(v(2, [2, 4]), 4).lines).toBe(1);
  });
});
