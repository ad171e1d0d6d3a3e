// The conformance scenarios under `overlay-ebpf` (agents and SaPs in the kernel, reference-impl/ebpf/) on
// Mininet, held to the same engine verdicts as `overlay`. The default run takes a representative sample (default
// allow, deny all, selectors, ipBlock with except, ports and ranges, named ports, pod churn, cross cluster and
// external); TB_EBPF_CONFORMANCE=all runs every scenario.
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
];
// The IPv6 and dual-stack cases (66-73) are outside the kernel data path (IPv4 only; the enforcer refuses them).
const IPV4_FILES = CONFORMANCE_FILES.filter((f) => !/^(6[6-9]|7[0-3])-/.test(path.basename(f)));
const files =
  process.env.TB_EBPF_CONFORMANCE === 'all'
    ? IPV4_FILES
    : CONFORMANCE_FILES.filter((f) => SAMPLE.some((s) => path.basename(f).startsWith(s)));

conformanceSuite('overlay-ebpf', 'ebpf', files);
