// AuthorizationPolicy semantics (src/policy/authz/engine.ts), rule by rule as Istio documents them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateAuthz, ruleUsesHttpFields } from '../../src/policy/authz/engine.ts';
import {
  peerIdentity,
  spiffeId,
  workloadPrincipal,
  type AuthorizationPolicy,
  type AuthzAction,
  type AuthzRule,
  type AuthzWorkload,
  type L7Request,
} from '../../src/policy/authz/model.ts';

const ap = (ref: string, spec: AuthorizationPolicy['spec']): AuthorizationPolicy => {
  const [namespace, name] = ref.split('/') as [string, string];
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { namespace, name },
    spec,
  };
};
const B: AuthzWorkload = { namespace: 'x', name: 'b', labels: { app: 'b' } };
const A: AuthzWorkload = { namespace: 'x', name: 'a', labels: { app: 'a' } };
const XA = workloadPrincipal('x', 'a');
const YA = workloadPrincipal('y', 'a');
const http = (over: Partial<L7Request> = {}): L7Request => ({
  source: { principal: XA, namespace: 'x', ip: '10.1.1.10' },
  port: 80,
  protocol: 'HTTP',
  method: 'GET',
  path: '/',
  host: 'b.x',
  headers: {},
  ...over,
});
const plaintext = (over: Partial<L7Request> = {}) => http({ source: { ip: '10.1.1.12' }, ...over });
const tcp = (over: Partial<L7Request> = {}): L7Request => ({
  source: { principal: XA, namespace: 'x', ip: '10.1.1.10' },
  port: 81,
  protocol: 'TCP',
  ...over,
});
const allowed = (ps: AuthorizationPolicy[], req: L7Request, w = B) => evaluateAuthz(ps, w, req).allowed;

describe('identity helpers', () => {
  it('formats and parses SPIFFE identities', () => {
    expect(workloadPrincipal('ns1', 'sa1')).toBe('cluster.local/ns/ns1/sa/sa1');
    expect(spiffeId('ns1', 'sa1')).toBe('spiffe://cluster.local/ns/ns1/sa/sa1');
    expect(peerIdentity('spiffe://cluster.local/ns/ns1/sa/sa1')).toEqual({
      principal: 'cluster.local/ns/ns1/sa/sa1',
      namespace: 'ns1',
    });
    expect(peerIdentity('spiffe://cluster.local/other')).toBeUndefined();
    expect(peerIdentity('https://cluster.local/ns/a/sa/b')).toBeUndefined();
  });
});

describe('evaluation order', () => {
  it('no policy: allow', () => {
    const v = evaluateAuthz([], B, http());
    expect(v).toMatchObject({ allowed: true, audited: [] });
    expect(v.reason.policy).toBeUndefined();
  });
  it('ALLOW without rules matches nothing: deny all (403), naming the policies', () => {
    const v = evaluateAuthz([ap('x/nothing', {})], B, http());
    expect(v).toMatchObject({ allowed: false, denial: 403 });
    expect(v.reason.text).toMatch(/x\/nothing/);
  });
  it('ALLOW with an empty rule matches everything', () => {
    const v = evaluateAuthz([ap('x/nothing', {}), ap('x/all', { rules: [{}] })], B, plaintext());
    expect(v).toMatchObject({ allowed: true, reason: { policy: 'x/all', rule: 0, action: 'ALLOW' } });
  });
  it('DENY with an empty rule denies everything; DENY without rules does nothing', () => {
    expect(evaluateAuthz([ap('x/deny', { action: 'DENY', rules: [{}] })], B, http())).toMatchObject({
      allowed: false,
      denial: 403,
      reason: { policy: 'x/deny', rule: 0, action: 'DENY' },
    });
    expect(allowed([ap('x/deny', { action: 'DENY' })], http())).toBe(true);
    expect(allowed([ap('x/deny', { action: 'DENY', rules: [] })], http())).toBe(true);
  });
  it('DENY is evaluated before ALLOW', () => {
    const ps = [
      ap('x/all', { rules: [{}] }),
      ap('x/deny', { action: 'DENY', rules: [{ from: [{ source: { principals: [XA] } }] }] }),
    ];
    expect(evaluateAuthz(ps, B, http()).reason).toMatchObject({ policy: 'x/deny', action: 'DENY' });
    expect(allowed(ps, http({ source: { principal: YA, namespace: 'y', ip: '10.1.1.11' } }))).toBe(true);
  });
  it('ALLOW policies exist and none matches: deny', () => {
    const ps = [ap('x/only-ya', { rules: [{ from: [{ source: { principals: [YA] } }] }] })];
    expect(allowed(ps, http())).toBe(false);
  });
  it('AUDIT records matches and never changes the verdict', () => {
    const audit = ap('x/audit', {
      action: 'AUDIT',
      rules: [{ to: [{ operation: { paths: ['/nope'] } }] }, {}],
    });
    expect(evaluateAuthz([audit], B, http())).toMatchObject({ allowed: true, audited: ['x/audit#1'] });
    expect(evaluateAuthz([audit, ap('x/nothing', {})], B, http())).toMatchObject({
      allowed: false,
      audited: ['x/audit#1'],
    });
  });
  it('rejects a %00 path and a lower-case method with 400 before policies', () => {
    expect(evaluateAuthz([], B, http({ path: '/a%00' }))).toMatchObject({ allowed: false, denial: 400 });
    expect(evaluateAuthz([ap('x/all', { rules: [{}] })], B, http({ method: 'get' }))).toMatchObject({
      allowed: false,
      denial: 400,
    });
  });
});

describe('scope', () => {
  it('selector picks workloads of the policy namespace; no selector = all of them', () => {
    const sel = ap('x/deny-a', { action: 'DENY', selector: { matchLabels: { app: 'a' } }, rules: [{}] });
    expect(allowed([sel], http(), A)).toBe(false);
    expect(allowed([sel], http(), B)).toBe(true);
    expect(allowed([sel], http(), { namespace: 'y', name: 'a', labels: { app: 'a' } })).toBe(true);
    const all = ap('x/deny', { action: 'DENY', selector: {}, rules: [{}] });
    expect(allowed([all], http(), A)).toBe(false);
    expect(allowed([all], http(), B)).toBe(false);
  });
  it('root-namespace policies apply to every namespace; the root is configurable', () => {
    const root = ap('istio-system/deny-b', {
      action: 'DENY',
      selector: { matchLabels: { app: 'b' } },
      rules: [{}],
    });
    const yb: AuthzWorkload = { namespace: 'y', name: 'b', labels: { app: 'b' } };
    expect(allowed([root], http(), yb)).toBe(false);
    expect(allowed([root], http(), B)).toBe(false);
    expect(allowed([root], http(), A)).toBe(true);
    expect(evaluateAuthz([root], yb, http(), { rootNamespace: 'mesh-root' }).allowed).toBe(true);
  });
});

describe('rule matching', () => {
  const allowRule = (rule: AuthzRule) => [ap('x/p', { rules: [rule] })];
  it('some from AND some to AND every when', () => {
    const rule: AuthzRule = {
      from: [{ source: { principals: [XA] } }, { source: { namespaces: ['y'] } }],
      to: [
        { operation: { methods: ['GET'], paths: ['/info*'] } },
        { operation: { methods: ['POST'], paths: ['/data'] } },
      ],
      when: [
        { key: 'request.headers[x-a]', values: ['1'] },
        { key: 'request.headers[x-b]', values: ['2'] },
      ],
    };
    const h = { 'x-a': '1', 'x-b': '2' };
    expect(allowed(allowRule(rule), http({ path: '/info/1', headers: h }))).toBe(true);
    expect(allowed(allowRule(rule), http({ method: 'POST', path: '/data', headers: h }))).toBe(true);
    expect(allowed(allowRule(rule), http({ method: 'POST', path: '/info', headers: h }))).toBe(false);
    expect(allowed(allowRule(rule), http({ path: '/info', headers: { 'x-a': '1' } }))).toBe(false);
    expect(
      allowed(
        allowRule(rule),
        http({ source: { principal: YA, namespace: 'y', ip: '1.1.1.1' }, path: '/info', headers: h }),
      ),
    ).toBe(true);
    expect(allowed(allowRule(rule), plaintext({ path: '/info', headers: h }))).toBe(false);
  });
  it('notX fields: none of the values may match (ANDed)', () => {
    const rule: AuthzRule = { to: [{ operation: { notPaths: ['/admin*', '/private*'] } }] };
    expect(allowed(allowRule(rule), http({ path: '/public' }))).toBe(true);
    expect(allowed(allowRule(rule), http({ path: '/admin' }))).toBe(false);
    expect(allowed(allowRule(rule), http({ path: '/private/x' }))).toBe(false);
  });
  it('value and not-value in one field both apply', () => {
    const rule: AuthzRule = { to: [{ operation: { paths: ['/api/*'], notPaths: ['/api/admin*'] } }] };
    expect(allowed(allowRule(rule), http({ path: '/api/users' }))).toBe(true);
    expect(allowed(allowRule(rule), http({ path: '/api/admin/x' }))).toBe(false);
  });
  it('plaintext never matches principals/namespaces but matches their not forms', () => {
    expect(allowed(allowRule({ from: [{ source: { principals: ['*'] } }] }), plaintext())).toBe(false);
    expect(allowed(allowRule({ from: [{ source: { namespaces: ['*'] } }] }), plaintext())).toBe(false);
    expect(allowed(allowRule({ from: [{ source: { notPrincipals: [XA] } }] }), plaintext())).toBe(true);
    expect(allowed(allowRule({ from: [{ source: { notPrincipals: ['*'] } }] }), plaintext())).toBe(true);
    expect(allowed(allowRule({ from: [{ source: { notNamespaces: ['x'] } }] }), plaintext())).toBe(true);
    expect(allowed(allowRule({ when: [{ key: 'source.principal', values: ['*'] }] }), plaintext())).toBe(
      false,
    );
    expect(allowed(allowRule({ when: [{ key: 'source.namespace', notValues: ['x'] }] }), plaintext())).toBe(
      true,
    );
    expect(allowed(allowRule({ from: [{ source: { notPrincipals: ['*'] } }] }), http())).toBe(false);
  });
  it('principal patterns: prefix and suffix', () => {
    expect(allowed(allowRule({ from: [{ source: { principals: ['cluster.local/ns/y/*'] } }] }), http())).toBe(
      false,
    );
    expect(allowed(allowRule({ from: [{ source: { principals: ['*/sa/a'] } }] }), http())).toBe(true);
  });
  it('ipBlocks and notIpBlocks on the source address; source.ip condition', () => {
    expect(allowed(allowRule({ from: [{ source: { ipBlocks: ['10.1.1.0/24'] } }] }), http())).toBe(true);
    expect(
      allowed(allowRule({ from: [{ source: { ipBlocks: ['10.1.2.0/24', '10.1.1.10'] } }] }), http()),
    ).toBe(true);
    expect(allowed(allowRule({ from: [{ source: { notIpBlocks: ['10.1.1.10'] } }] }), http())).toBe(false);
    expect(allowed(allowRule({ when: [{ key: 'source.ip', values: ['10.1.2.0/24'] }] }), http())).toBe(false);
  });
  it('hosts are case-insensitive; methods and header values are not', () => {
    expect(
      allowed(
        allowRule({ to: [{ operation: { hosts: ['Shop.Example'] } }] }),
        http({ host: 'shop.example' }),
      ),
    ).toBe(true);
    expect(
      allowed(
        allowRule({ to: [{ operation: { hosts: ['shop.example'] } }] }),
        http({ host: 'shop.example:8080' }),
      ),
    ).toBe(false);
    expect(allowed(allowRule({ to: [{ operation: { methods: ['get'] } }] }), http())).toBe(false);
    const hdr: AuthzRule = { when: [{ key: 'request.headers[X-User]', values: ['alice'] }] };
    expect(allowed(allowRule(hdr), http({ headers: { 'x-user': 'alice' } }))).toBe(true);
    expect(allowed(allowRule(hdr), http({ headers: { 'X-USER': 'Alice' } }))).toBe(false);
  });
  it('header presence needs a non-empty value; notValues matches a missing header', () => {
    const pres: AuthzRule = { when: [{ key: 'request.headers[x-token]', values: ['*'] }] };
    expect(allowed(allowRule(pres), http({ headers: { 'x-token': 't' } }))).toBe(true);
    expect(allowed(allowRule(pres), http({ headers: { 'x-token': '' } }))).toBe(false);
    expect(allowed(allowRule(pres), http())).toBe(false);
    expect(
      allowed(allowRule({ when: [{ key: 'request.headers[x-debug]', notValues: ['1'] }] }), http()),
    ).toBe(true);
  });
  it('paths are matched after normalization and without the query', () => {
    const pub: AuthzRule = { to: [{ operation: { paths: ['/public*'] } }] };
    expect(allowed(allowRule(pub), http({ path: '/admin/../public' }))).toBe(true);
    expect(allowed(allowRule(pub), http({ path: '/public?x=/admin' }))).toBe(true);
    expect(allowed(allowRule(pub), http({ path: '//public' }))).toBe(false);
    const deny = [ap('x/d', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] })];
    expect(allowed(deny, http({ path: '/public/%2e%2e/admin' }))).toBe(false);
    expect(allowed(deny, http({ path: '/%61dmin' }))).toBe(false);
    expect(allowed(deny, http({ path: '/public\\..\\admin' }))).toBe(false);
    expect(allowed(deny, http({ path: '//admin' }))).toBe(true);
  });
  it('ports and destination.port compare the connection port', () => {
    expect(allowed(allowRule({ to: [{ operation: { ports: ['81'] } }] }), tcp())).toBe(true);
    expect(allowed(allowRule({ to: [{ operation: { ports: ['80'] } }] }), tcp())).toBe(false);
    expect(allowed(allowRule({ to: [{ operation: { notPorts: ['81'] } }] }), tcp())).toBe(false);
    expect(allowed(allowRule({ when: [{ key: 'destination.port', values: ['81'] }] }), tcp())).toBe(true);
  });
});

describe('TCP traffic and HTTP-only fields', () => {
  it('ALLOW: a rule with an HTTP-only field is dropped', () => {
    expect(ruleUsesHttpFields({ to: [{ operation: { methods: ['GET'] } }] })).toBe(true);
    expect(ruleUsesHttpFields({ when: [{ key: 'request.headers[x]', values: ['1'] }] })).toBe(true);
    expect(
      ruleUsesHttpFields({
        to: [{ operation: { ports: ['81'] } }],
        when: [{ key: 'source.ip', values: ['1.1.1.1'] }],
      }),
    ).toBe(false);
    const ps = [ap('x/get', { rules: [{ to: [{ operation: { methods: ['GET'], ports: ['81'] } }] }] })];
    expect(evaluateAuthz(ps, B, tcp())).toMatchObject({ allowed: false, denial: 'reset' });
    expect(allowed(ps, http({ port: 81 }))).toBe(true);
    // the other rule of the same policy still counts
    const two = [
      ap('x/two', {
        rules: [{ to: [{ operation: { methods: ['GET'] } }] }, { to: [{ operation: { ports: ['81'] } }] }],
      }),
    ];
    expect(evaluateAuthz(two, B, tcp()).reason).toMatchObject({ policy: 'x/two', rule: 1 });
  });
  it('DENY: HTTP-only fields are ignored, so the deny widens', () => {
    const ps = [ap('x/no-post', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] })];
    expect(evaluateAuthz(ps, B, tcp())).toMatchObject({ allowed: false, denial: 'reset' });
    expect(allowed(ps, http())).toBe(true);
    expect(allowed(ps, http({ method: 'POST' }))).toBe(false);
    const hdr = [
      ap('x/dbg', {
        action: 'DENY',
        rules: [
          {
            from: [{ source: { principals: [XA] } }],
            when: [{ key: 'request.headers[x-debug]', values: ['1'] }],
          },
        ],
      }),
    ];
    expect(allowed(hdr, tcp())).toBe(false);
    expect(allowed(hdr, tcp({ source: { principal: YA, namespace: 'y', ip: '1.1.1.1' } }))).toBe(true);
    // L4 fields still count in DENY
    const port = [
      ap('x/p', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'], ports: ['80'] } }] }] }),
    ];
    expect(allowed(port, tcp())).toBe(true);
  });
});

describe('properties', () => {
  const principal = fc.constantFrom(XA, YA, workloadPrincipal('y', 'default'), undefined);
  const req = fc
    .record({
      principal,
      path: fc.constantFrom('/', '/admin', '/public/x', '/admin/../public', '/a%2e%2e'),
      method: fc.constantFrom('GET', 'POST'),
      proto: fc.constantFrom('HTTP' as const, 'TCP' as const),
    })
    .map(({ principal: p, path, method, proto }): L7Request =>
      proto === 'TCP'
        ? {
            source: { ...(p ? { principal: p, namespace: p.split('/')[2]! } : {}), ip: '10.1.1.10' },
            port: 80,
            protocol: 'TCP',
          }
        : {
            source: { ...(p ? { principal: p, namespace: p.split('/')[2]! } : {}), ip: '10.1.1.10' },
            port: 80,
            protocol: 'HTTP',
            method,
            path,
            headers: {},
          },
    );
  const rule: fc.Arbitrary<AuthzRule> = fc.record(
    {
      from: fc.array(
        fc.record({
          source: fc.oneof(
            fc.record({
              principals: fc.array(fc.constantFrom(XA, YA, '*', 'cluster.local/ns/y/*'), {
                minLength: 1,
                maxLength: 2,
              }),
            }),
            fc.record({ notNamespaces: fc.constant<string[]>(['x']) }),
          ),
        }),
        { maxLength: 2 },
      ),
      to: fc.array(
        fc.record({
          operation: fc.oneof(
            fc.record({ paths: fc.constant<string[]>(['/admin*']) }),
            fc.record({ methods: fc.constant<string[]>(['GET']) }),
            fc.record({ ports: fc.constant<string[]>(['80']) }),
          ),
        }),
        { maxLength: 2 },
      ),
    },
    { requiredKeys: [] },
  );
  const policy = fc.record({
    action: fc.constantFrom<AuthzAction>('ALLOW', 'DENY', 'AUDIT'),
    rules: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
  });
  const policies = fc.array(policy, { maxLength: 4 }).map((ps) => ps.map((spec, i) => ap(`x/p${i}`, spec)));

  it('AUDIT policies never change a verdict', () => {
    fc.assert(
      fc.property(policies, req, (ps, r) => {
        const withoutAudit = ps.filter((p) => p.spec.action !== 'AUDIT');
        expect(evaluateAuthz(ps, B, r).allowed).toBe(evaluateAuthz(withoutAudit, B, r).allowed);
      }),
    );
  });
  it('a DENY-all policy denies everything; an ALLOW-all policy allows whatever no DENY matches', () => {
    fc.assert(
      fc.property(policies, req, (ps, r) => {
        expect(evaluateAuthz([...ps, ap('x/zz-deny', { action: 'DENY', rules: [{}] })], B, r).allowed).toBe(
          false,
        );
        const denied = ps.some((p) => p.spec.action === 'DENY' && evaluateAuthz([p], B, r).allowed === false);
        expect(evaluateAuthz([...ps, ap('x/zz-allow', { rules: [{}] })], B, r).allowed).toBe(!denied);
      }),
    );
  });
  it('the verdict does not depend on policy order', () => {
    fc.assert(
      fc.property(policies, req, (ps, r) => {
        expect(evaluateAuthz([...ps].reverse(), B, r).allowed).toBe(evaluateAuthz(ps, B, r).allowed);
      }),
    );
  });
  it('notPrincipals [p] is the negation of principals [p] for identified requests', () => {
    fc.assert(
      fc.property(req, fc.constantFrom(XA, YA, '*', 'cluster.local/ns/y/*'), (r, p) => {
        if (!r.source.principal) return;
        const pos = evaluateAuthz(
          [ap('x/a', { rules: [{ from: [{ source: { principals: [p] } }] }] })],
          B,
          r,
        ).allowed;
        const neg = evaluateAuthz(
          [ap('x/a', { rules: [{ from: [{ source: { notPrincipals: [p] } }] }] })],
          B,
          r,
        ).allowed;
        expect(neg).toBe(!pos);
      }),
    );
  });
});
