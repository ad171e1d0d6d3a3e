// The conformance scenarios under `overlay-ebpf` (agents and SaPs in the kernel, reference-impl/ebpf/) on
// Mininet, held to the same engine verdicts as `overlay`. The default run takes a representative sample (default
// allow, deny all, selectors, ipBlock with except, ports and ranges, named ports, pod churn, cross cluster and
// external; an IPv6-only cluster, a dual-stack one and mixed-family externals); TB_EBPF_CONFORMANCE=all runs
// every scenario, TB_EBPF_CONFORMANCE=66,70 the ones whose names start with those prefixes.
import path from 'node:path';
import { CONFORMANCE_FILES, conformanceSuite } from './overlay-conformance-suite.ts';

const SAMPLE = [
  '01-default-allow',
  '04-deny-all-both',
  '15-peer-and',
  '27-ingress-egress-combined',
  '32-ipblock-except',
  '38-ipblock-overlap-union',
  '40-port-udp',
  '43-endport-range',
  '44-named-ports',
  '53-add-remove-pod',
  '55-external-ingress',
  '57-multi-cluster',
  '68-ipv6-ports',
  '72-dual-stack-except-per-family',
  '73-mixed-externals',
];
const pick = process.env.TB_EBPF_CONFORMANCE?.trim() ?? '';
const prefixes = pick === 'all' ? [''] : pick !== '' ? pick.split(',').map((p) => p.trim()) : SAMPLE;
const files = CONFORMANCE_FILES.filter((f) => prefixes.some((s) => path.basename(f).startsWith(s)));
if (files.length === 0) throw new Error(`TB_EBPF_CONFORMANCE=${pick}: no scenario matches`);

conformanceSuite('overlay-ebpf', 'ebpf', files);
