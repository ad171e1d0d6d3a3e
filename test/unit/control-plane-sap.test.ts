// Compiled configs run through the real SaP decision code (reference-impl/sap/engine.ts, pure): a GUE packet
// from the source's agent is handed SaP to SaP exactly as main.ts would forward it, and must reach the
// destination's agent iff the semantics engine allows the flow. Random small states, every pair; no sockets.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileOverlay, type OverlayPlan } from '../../reference-impl/control-plane/compile.ts';
import { newOverlay } from '../../reference-impl/control-plane/keys.ts';
import { encodeHeader, PROTO_IPV4 } from '../../reference-impl/gue/codec.ts';
import { parseSapConfig } from '../../reference-impl/sap/config.ts';
import { Forward, SapEngine } from '../../reference-impl/sap/engine.ts';
import { FlowCache } from '../../reference-impl/sap/flowcache.ts';
import { verdict } from '../../src/policy/engine.ts';
import type { ClusterState, Protocol } from '../../src/policy/model.ts';
import { resolveFlowPort } from '../../src/policy/ports.ts';
import { stateArb } from './control-plane-sim.ts';

const keys = newOverlay(() => Buffer.alloc(32, 3), 77);

function packet(src: string, dst: string, protocol: Protocol, dport: number): Buffer {
  const inner = Buffer.alloc(40);
  inner[0] = 0x45;
  inner.writeUInt16BE(40, 2);
  inner[8] = 64;
  inner[9] = protocol === 'TCP' ? 6 : 17;
  Buffer.from(src.split('.').map(Number)).copy(inner, 12);
  Buffer.from(dst.split('.').map(Number)).copy(inner, 16);
  inner.writeUInt16BE(33000, 20);
  inner.writeUInt16BE(dport, 22);
  const out = Buffer.alloc(200);
  const hl = encodeHeader(
    out,
    0,
    PROTO_IPV4,
    keys.overlayId,
    keys.sendEpoch,
    Buffer.from(keys.keys[0]!.key, 'hex'),
  );
  inner.copy(out, hl);
  return out.subarray(0, hl + inner.length);
}

/** Fresh SaP engines (empty flow caches) for one plan, by listen address. */
function engines(plan: OverlayPlan): Map<string, SapEngine> {
  return new Map(
    plan.saps.map((s) => [
      `${s.listen.ip}:${s.listen.port}`,
      new SapEngine(parseSapConfig(s.config), {}, new FlowCache(1024)),
    ]),
  );
}

/** 'delivered' when the packet leaves the last SaP toward the destination's agent, else the drop point. */
function send(
  plan: OverlayPlan,
  saps: Map<string, SapEngine>,
  from: string,
  to: string,
  protocol: Protocol,
  port: number,
): string {
  const agent = plan.agents.find((a) => a.ref === from)!.config;
  const dstAgent = plan.agents.find((a) => a.ref === to)!.config.listen;
  let buf = packet(agent.overlayIp, plan.overlayIps.get(to)!, protocol, port);
  let fromAddr = `${agent.listen.ip}:${agent.listen.port}`;
  let at = `${agent.sap.ip}:${agent.sap.port}`;
  const out = new Forward();
  for (let hop = 0; hop < 6; hop++) {
    const sap = saps.get(at);
    if (!sap) return `no SaP at ${at}`;
    const [ip, p] = fromAddr.split(':');
    if (!sap.process(buf, buf.length, ip!, Number(p), 0, out))
      return `dropped at ${at}: ${JSON.stringify(sap.counters)}`;
    const next = `${out.ip}:${out.port}`;
    if (next === `${dstAgent.ip}:${dstAgent.port}`) return 'delivered';
    buf = Buffer.from(out.buf.subarray(out.off, out.off + out.len));
    fromAddr = at;
    at = next;
  }
  return 'loop';
}

function mismatches(s: ClusterState): string[] {
  const plan = compileOverlay(s, { version: 1, keys });
  const refs = plan.agents.map((a) => a.ref);
  const out: string[] = [];
  for (const from of refs)
    for (const to of refs) {
      if (from === to) continue;
      for (const protocol of ['TCP', 'UDP'] as Protocol[])
        for (const port of [80, 81, 'web'] as (number | string)[]) {
          const dst = s.pods.find((p) => `${p.namespace}/${p.name}` === to);
          const n = resolveFlowPort(port, protocol, dst);
          if (n === undefined) continue;
          const want = verdict(s, { from, to, protocol, port }).allowed;
          // Fresh caches per flow: a cached reply of another flow must not decide this one.
          const got = send(plan, engines(plan), from, to, protocol, n);
          if ((got === 'delivered') !== want)
            out.push(`${from} → ${to} ${port}/${protocol}: engine ${want}, SaPs ${got}`);
        }
    }
  return out;
}

describe('compiled configs in the real SaP engine', () => {
  it('deliver exactly the flows the engine allows, on random states (two clusters, external host)', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        expect(mismatches(s)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
