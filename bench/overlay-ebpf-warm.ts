// What one SaP program run costs with warm caches: BPF_PROG_TEST_RUN (`bpftool prog run … repeat N`) runs
// sap_ingress N times on one frame and reports the mean time per run. Set against the per-run figures of
// `bench/overlay-ebpf-paths.ts --bpf-stats` (the same program in traffic), the difference is what cold
// instructions and map entries cost there.
// The kernel runs every repetition on the same packet buffer, so the frame must come out of a run as it went
// in: the SaP here forwards to itself (its own listen address as a peer SaP's), and both overlay endpoints sit
// behind that "peer", so after the first two runs (full path: the flow is new, then its forwarding entry is
// written) every run takes the forwarding cache, as a gateway's run does for a known flow, and hands the packet
// to "another SaP of its namespace" (redirect into ingress).
// A second figure: a packet that is not for the SaP (another destination), the cost every interface's filter
// pays for traffic passing by.
//   sudo npx tsx bench/overlay-ebpf-warm.ts [--repeat 200000] [--payload 100]
import { BpfObject } from '../reference-impl/ebpf/loader.ts';
import { sapEntries } from '../reference-impl/ebpf/maps.ts';
import { parseSapConfig } from '../reference-impl/sap/config.ts';
import {
  GoldenLab,
  TC_ACT_REDIRECT,
  TC_ACT_UNSPEC,
  eth,
  gue,
  ipv4,
  tcp,
  udpHdr,
} from '../test/integration/ebpf-golden-lib.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string): number => {
  const i = argv.indexOf(`--${k}`);
  const v = Number(i >= 0 ? argv[i + 1] : d);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${k}: a positive integer, not ${argv[i + 1]}`);
    process.exit(2);
  }
  return v;
};
const REPEAT = opt('repeat', '200000');
const PAYLOAD = opt('payload', '100');
if (process.getuid?.() !== 0) {
  console.error('overlay-ebpf-warm: needs root (a network namespace, bpffs pins, BPF_PROG_TEST_RUN)');
  process.exit(2);
}

const K = '00112233445566778899aabbccddeeff';
const LISTEN = '198.18.0.1';
const A = '100.64.0.1';
const B = '100.64.0.2';

const lab = new GoldenLab('warm');
let sap: BpfObject | undefined;
try {
  lab.up([`${LISTEN}/24`], []);
  sap = new BpfObject('sap', `${lab.pins}/sap`);
  const cfg = parseSapConfig({
    version: 1,
    sapId: 's1',
    overlayId: 77,
    keys: [{ epoch: 1, key: K }],
    sendEpoch: 1,
    listen: { ip: LISTEN, port: 6080 },
    endpoints: [
      { overlayIp: A, sap: 's2' },
      { overlayIp: B, sap: 's2' },
    ],
    saps: [{ id: 's2', addr: { ip: LISTEN, port: 6080 } }],
  });
  sap.program(sapEntries(cfg, sap.nextSlot()), 1);
  const frameTo = (dst: string) =>
    eth(
      lab.ifMac,
      '020000000002',
      ipv4(LISTEN, dst, 17, udpHdr(6080, 6080, gue(ipv4(A, B, 6, tcp(41000, 80, PAYLOAD)), 1, K, 77))),
    );
  const run = (frame: Buffer, n: number) => lab.run(sap!, 'sap_ingress', frame, 0, n);
  const forward = frameTo(LISTEN);
  // Two single runs first: the full path (new flow), then the one that records the forwarding entry.
  for (let i = 0; i < 2; i++) {
    const r = run(forward, 1);
    if (r.retval !== TC_ACT_REDIRECT)
      throw new Error(`warm-up run ${i + 1}: return ${r.retval}, not a redirect`);
  }
  const cached = [1, 2, 3].map(() => run(forward, REPEAT));
  // Every repeated run must have taken the forwarding cache.
  for (const r of cached)
    if (r.retval !== TC_ACT_REDIRECT || r.counters.allowedCached !== REPEAT)
      throw new Error(`not every run took the forwarding cache: ${JSON.stringify(r.counters)}`);
  const passing = [1, 2, 3].map(() => run(frameTo('198.18.0.9'), REPEAT));
  if (passing.some((r) => r.retval !== TC_ACT_UNSPEC)) throw new Error('a passing packet was not left alone');
  const fmt = (rs: { ns: number }[]) => rs.map((r) => r.ns).join(', ');
  console.log(
    `overlay-ebpf warm SaP runs (BPF_PROG_TEST_RUN, ${REPEAT} repeats × 3, ${PAYLOAD}-byte TCP payload):\n` +
      `  forwarding cache (known flow, key check, re-addressing): ${fmt(cached)} ns per run\n` +
      `  not for this SaP (cheap test, passed on):                ${fmt(passing)} ns per run`,
  );
} finally {
  sap?.close();
  lab.close();
}
