// The IPv6 and dual-stack conformance cases (66-73) run as a representative sample by default, to keep the
// real-packet suites fast: IPv6-only deny-all + node traffic (66), IPv6 ipBlock with except (69), an ipBlock of
// one family with dual-stack peers (71), mixed-family externals (73). TB_IPV6_FULL=1 runs all of them.
import path from 'node:path';

const SAMPLE = [
  '66-ipv6-deny-all.yaml',
  '69-ipv6-ipblock-except.yaml',
  '71-dual-stack-ipblock-one-family.yaml',
  '73-mixed-externals.yaml',
];
const IPV6_CASE = /^(6[6-9]|7[0-3])-/;

export function ipv6Sample(file: string): boolean {
  const base = path.basename(file);
  return !IPV6_CASE.test(base) || process.env.TB_IPV6_FULL === '1' || SAMPLE.includes(base);
}
