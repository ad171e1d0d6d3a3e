// The mesh's pure parts: redirect rules, the CA's certificates and how identities are read back, per-sidecar
// compilation (policy selection, membership, overlay address widening), config validation.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { evaluateAuthz } from '../../src/policy/authz/engine.ts';
import type { AuthorizationPolicy } from '../../src/policy/authz/model.ts';
import type { ClusterState, Pod } from '../../src/policy/model.ts';
import { compileMesh, translatePolicyAddresses } from '../control-plane/mesh.ts';
import { MeshCA, namespaceOfPrincipal, principalFromSan } from './ca.ts';
import { parseSidecarConfig } from './config.ts';
import { interceptRuleset, INBOUND_PORT, OUTBOUND_PORT, PROXY_UID } from './intercept.ts';

describe('interceptRuleset', () => {
  const r = interceptRuleset({ excludeInboundPorts: [15021] });
  it('exempts the proxy uid and loopback before redirecting TCP out and in', () => {
    const out = r.slice(r.indexOf('chain output'), r.indexOf('chain prerouting'));
    expect(out.indexOf(`meta skuid ${PROXY_UID} return`)).toBeGreaterThan(0);
    expect(out.indexOf(`meta skuid ${PROXY_UID} return`)).toBeLessThan(
      out.indexOf(`redirect to :${OUTBOUND_PORT}`),
    );
    expect(out).toContain('oifname "lo" return');
    const pre = r.slice(r.indexOf('chain prerouting'));
    expect(pre).toContain('iifname "lo" return');
    expect(pre).toContain('tcp dport { 15021 } return');
    expect(pre).toContain(`meta l4proto tcp redirect to :${INBOUND_PORT}`);
    // UDP is never redirected.
    expect(r).not.toMatch(/udp.*redirect/);
  });
  it('replaces a previous table atomically', () => {
    expect(r.startsWith('table inet meshredirect\ndelete table inet meshredirect\n')).toBe(true);
  });
});

describe('MeshCA', () => {
  it('issues certificates whose only identity is the SPIFFE URI SAN, chaining to its root only', async () => {
    const ca = await MeshCA.create();
    const other = await MeshCA.create('other');
    const kc = await ca.issue({ namespace: 'x', serviceAccount: 'sa-a' });
    const cert = new X509Certificate(kc.certPem);
    expect(cert.subjectAltName).toBe('URI:spiffe://cluster.local/ns/x/sa/sa-a');
    expect(cert.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(other.rootPem).publicKey)).toBe(false);
    expect(cert.checkIssued(new X509Certificate(ca.rootPem))).toBe(true);
    expect(new X509Certificate(ca.rootPem).ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(principalFromSan(cert.subjectAltName)).toBe('cluster.local/ns/x/sa/sa-a');
  });
});

describe('principalFromSan', () => {
  it('reads exactly one SPIFFE URI of the trust domain', () => {
    expect(principalFromSan('URI:spiffe://cluster.local/ns/y/sa/default')).toBe(
      'cluster.local/ns/y/sa/default',
    );
    expect(principalFromSan(undefined)).toBeUndefined();
    expect(principalFromSan('DNS:cluster.local')).toBeUndefined();
    expect(principalFromSan('URI:spiffe://evil.example/ns/y/sa/default')).toBeUndefined();
    expect(
      principalFromSan('URI:spiffe://cluster.local/ns/y/sa/a, URI:spiffe://cluster.local/ns/z/sa/b'),
    ).toBeUndefined();
    expect(principalFromSan('URI:spiffe://cluster.local/ns/y/sa/a/extra')).toBeUndefined();
    expect(namespaceOfPrincipal('cluster.local/ns/y/sa/a')).toBe('y');
  });
});

const pod = (ns: string, name: string, extra: Partial<Pod> = {}): Pod => ({
  namespace: ns,
  name,
  labels: { app: name },
  node: 'n1',
  cluster: 'c1',
  ip: `10.1.1.${name.charCodeAt(0) - 86}`,
  ports: [],
  ...extra,
});

const allowFrom = (ns: string, name: string, app: string, ipBlocks: string[]): AuthorizationPolicy => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: ns },
  spec: { selector: { matchLabels: { app } }, rules: [{ from: [{ source: { ipBlocks } }] }] },
});

describe('compileMesh', () => {
  const state: ClusterState = {
    namespaces: [
      { name: 'x', labels: {} },
      { name: 'istio-system', labels: {} },
    ],
    pods: [pod('x', 'a', { serviceAccount: 'sa-a' }), pod('x', 'b'), pod('x', 'c', { sidecar: false })],
    nodes: [],
    externals: [],
    policies: [],
    authorizationPolicies: [
      allowFrom('x', 'to-b', 'b', ['10.1.1.11']),
      { ...allowFrom('istio-system', 'mesh-wide', 'a', ['10.0.0.0/8']) },
    ],
  };
  const certs = new Map(state.pods.map((p) => [`${p.namespace}/${p.name}`, { certPem: 'C', keyPem: 'K' }]));
  const plan = compileMesh(state, {
    version: 3,
    certs,
    caPems: ['R'],
    addresses: (ref) => [state.pods.find((p) => `${p.namespace}/${p.name}` === ref)!.ip],
    httpPorts: () => [8080],
  });
  it('gives every sidecar pod a config, with the policies that apply to it (root namespace included)', () => {
    expect(plan.map((s) => s.ref)).toEqual(['x/a', 'x/b']);
    const a = plan[0]!.config;
    expect(a.version).toBe(3);
    expect(a.workload).toEqual({ namespace: 'x', name: 'a', serviceAccount: 'sa-a', labels: { app: 'a' } });
    expect((a.policies as AuthorizationPolicy[]).map((p) => p.metadata.name)).toEqual(['mesh-wide']);
    expect((plan[1]!.config.policies as AuthorizationPolicy[]).map((p) => p.metadata.name)).toEqual(['to-b']);
  });
  it('lists mesh members by address with their SPIFFE IDs; a pod without sidecar is no member', () => {
    expect(plan[0]!.config.meshPeers).toEqual({
      '10.1.1.11': 'spiffe://cluster.local/ns/x/sa/sa-a',
      '10.1.1.12': 'spiffe://cluster.local/ns/x/sa/default',
    });
    expect(() => parseSidecarConfig(plan[0]!.config)).not.toThrow();
  });
  it('refuses to compile a sidecar without a certificate', () => {
    expect(() =>
      compileMesh(state, {
        version: 1,
        certs: new Map(),
        caPems: ['R'],
        addresses: () => [],
        httpPorts: () => [],
      }),
    ).toThrow(/no workload certificate issued for x\/a/);
  });
});

describe('translatePolicyAddresses', () => {
  const seen = [
    { real: '10.1.1.11', seen: '100.64.0.2' },
    { real: '10.2.0.5', seen: '100.64.0.3' },
  ];
  const p: AuthorizationPolicy = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'p', namespace: 'x' },
    spec: {
      rules: [
        {
          from: [{ source: { ipBlocks: ['10.1.1.0/24'], notIpBlocks: ['10.2.0.5'] } }],
          when: [
            { key: 'source.ip', values: ['10.1.1.11/32'] },
            { key: 'request.headers[x]', values: ['10.1.1.11'] },
          ],
        },
      ],
    },
  };
  it('widens address fields with the seen address of every endpoint they cover, and nothing else', () => {
    const t = translatePolicyAddresses(p, seen);
    const r = t.spec.rules![0]!;
    expect(r.from![0]!.source.ipBlocks).toEqual(['10.1.1.0/24', '100.64.0.2']);
    expect(r.from![0]!.source.notIpBlocks).toEqual(['10.2.0.5', '100.64.0.3']);
    expect(r.when![0]!.values).toEqual(['10.1.1.11/32', '100.64.0.2']);
    expect(r.when![1]!.values).toEqual(['10.1.1.11']);
    expect(p.spec.rules![0]!.from![0]!.source.ipBlocks).toEqual(['10.1.1.0/24']); // input untouched
  });
  it('gives the same verdict for the seen address as the original policy gives for the real one', () => {
    const w = { namespace: 'x', name: 'b', labels: {} };
    const req = (ip: string) => ({ source: { ip }, port: 80, protocol: 'TCP' as const });
    const t = translatePolicyAddresses(p, seen);
    for (const e of seen)
      expect(evaluateAuthz([t], w, req(e.seen)).allowed).toBe(evaluateAuthz([p], w, req(e.real)).allowed);
  });
  it('is the identity without seen addresses', () => {
    expect(translatePolicyAddresses(p, [])).toBe(p);
  });
});

describe('parseSidecarConfig', () => {
  it('names the bad field', () => {
    expect(() => parseSidecarConfig({ version: 0 })).toThrow(/sidecar config: version:/);
  });
});
