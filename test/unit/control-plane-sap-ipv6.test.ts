// The overlay over IPv6 through the real SaP decision code: for every step of the IPv6-only, dual-stack and
// mixed-externals conformance cases (66-73), a GUE packet with the inner packet of each family (IPv4, or IPv6 to
// the overlay IPv6 addresses) is handed from the source's agent SaP to SaP, and must reach the destination's
// agent iff the semantics engine allows that flow over that family. No sockets; fresh flow caches per flow.
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { compileOverlay, type OverlayPlan } from '../../reference-impl/control-plane/compile.ts';
import { newOverlay } from '../../reference-impl/control-plane/keys.ts';
import { encodeHeader, PROTO_IPV4, PROTO_IPV6 } from '../../reference-impl/gue/codec.ts';
import { parseSapConfig } from '../../reference-impl/sap/config.ts';
import { Forward, SapEngine } from '../../reference-impl/sap/engine.ts';
import { FlowCache } from '../../reference-impl/sap/flowcache.ts';
import { verdict } from '../../src/policy/engine.ts';
import { commonFamilies } from '../../src/policy/family.ts';
import type { ClusterState, IPFamily, Protocol } from '../../src/policy/model.ts';
import { resolveFlowPort } from '../../src/policy/ports.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { statesPerStep } from '../../src/scenario/state.ts';

const keys = newOverlay(() => Buffer.alloc(32, 5), 99);
const KEY = Buffer.from(keys.keys[0]!.key, 'hex');

function packet(src: string, dst: string, protocol: Protocol, dport: number): Buffer {
  const v6 = src.includes(':');
  const l4 = Buffer.alloc(20);
  l4.writeUInt16BE(33000, 0);
  l4.writeUInt16BE(dport, 2);
  let inner: Buffer;
  if (v6) {
    inner = Buffer.alloc(40 + l4.length);
    inner[0] = 0x60;
    inner.writeUInt16BE(l4.length, 4);
    inner[6] = protocol === 'TCP' ? 6 : 17;
    inner[7] = 64;
    Buffer.from(ipaddr.parse(src).toByteArray()).copy(inner, 8);
    Buffer.from(ipaddr.parse(dst).toByteArray()).copy(inner, 24);
    l4.copy(inner, 40);
  } else {
    inner = Buffer.alloc(20 + l4.length);
    inner[0] = 0x45;
    inner.writeUInt16BE(inner.length, 2);
    inner[8] = 64;
    inner[9] = protocol === 'TCP' ? 6 : 17;
    Buffer.from(ipaddr.parse(src).toByteArray()).copy(inner, 12);
    Buffer.from(ipaddr.parse(dst).toByteArray()).copy(inner, 16);
    l4.copy(inner, 20);
  }
  const out = Buffer.alloc(200);
  const hl = encodeHeader(out, 0, v6 ? PROTO_IPV6 : PROTO_IPV4, keys.overlayId, keys.sendEpoch, KEY);
  inner.copy(out, hl);
  return out.subarray(0, hl + inner.length);
}

const key = (a: { ip: string; port: number }) => `${ipaddr.parse(a.ip).toString()}|${a.port}`;

function send(
  plan: OverlayPlan,
  from: string,
  to: string,
  family: IPFamily,
  protocol: Protocol,
  port: number,
): string {
  const saps = new Map<string, SapEngine>();
  for (const s of plan.saps) {
    const e = new SapEngine(parseSapConfig(s.config), {}, new FlowCache(1024));
    saps.set(key(s.listen), e);
    if (s.listen6) saps.set(key(s.listen6), e);
  }
  const agent = plan.agents.find((a) => a.ref === from)!;
  const dst = plan.agents.find((a) => a.ref === to)!;
  const [src, dstIp] =
    family === 'IPv6' ? [agent.overlayIp6!, dst.overlayIp6!] : [agent.overlayIp, dst.overlayIp];
  let buf = packet(src, dstIp, protocol, port);
  let fromAddr = agent.config.listen as { ip: string; port: number };
  let at = agent.config.sap as { ip: string; port: number };
  const out = new Forward();
  for (let hop = 0; hop < 6; hop++) {
    const sap = saps.get(key(at));
    if (!sap) return `no SaP at ${key(at)}`;
    if (!sap.process(buf, buf.length, ipaddr.parse(fromAddr.ip).toString(), fromAddr.port, 0, out))
      return `dropped at ${key(at)}: ${JSON.stringify(sap.counters)}`;
    const next = { ip: out.ip, port: out.port };
    if (key(next) === key(dst.config.listen as { ip: string; port: number })) return 'delivered';
    buf = Buffer.from(out.buf.subarray(out.off, out.off + out.len));
    fromAddr = at;
    at = next;
  }
  return 'loop';
}

function mismatches(s: ClusterState): { cells: number; out: string[] } {
  const plan = compileOverlay(s, { version: 1, keys });
  const eps = new Map<string, { ip: string; ips?: string[] }>([
    ...s.pods.map((p) => [`${p.namespace}/${p.name}`, p] as const),
    ...s.externals.map((e) => [`ext:${e.name}`, e] as const),
  ]);
  const refs = plan.agents.map((a) => a.ref);
  const out: string[] = [];
  let cells = 0;
  for (const from of refs)
    for (const to of refs) {
      if (from === to) continue;
      for (const family of commonFamilies(eps.get(from)!, eps.get(to)!))
        for (const protocol of ['TCP', 'UDP'] as Protocol[])
          for (const port of [80, 81, 'serve-81-tcp'] as (number | string)[]) {
            const dst = s.pods.find((p) => `${p.namespace}/${p.name}` === to);
            const n = resolveFlowPort(port, protocol, dst);
            if (n === undefined) continue;
            cells++;
            const want = verdict(s, { from, to, protocol, port, family }).allowed;
            const got = send(plan, from, to, family, protocol, n);
            if ((got === 'delivered') !== want)
              out.push(`${from} → ${to} ${port}/${protocol} ${family}: engine ${want}, SaPs ${got}`);
          }
    }
  return { cells, out };
}

const FILES = [66, 67, 68, 69, 70, 71, 72, 73].map((n) => n.toString());

describe('compiled IPv6 and dual-stack configs in the real SaP engine', () => {
  for (const n of FILES)
    it(`conformance case ${n}: every flow of every family delivered iff the engine allows it`, async () => {
      const { readdirSync } = await import('node:fs');
      const file = readdirSync('scenarios/conformance').find((f) => f.startsWith(`${n}-`))!;
      const sc = loadScenario(`scenarios/conformance/${file}`);
      for (const st of statesPerStep(sc.initial, sc.steps)) {
        const r = mismatches(st);
        expect(r.cells).toBeGreaterThan(0);
        expect(r.out).toEqual([]);
      }
    });
});
