// The scenario format's Istio parts: security.istio.io/v1 AuthorizationPolicy objects and HTTP probe
// attributes, as strict zod schemas (an unknown field is an error). Field checks follow what Istio's validation
// and API reference require (https://istio.io/latest/docs/reference/config/security/authorization-policy/);
// anything the engine does not implement (CUSTOM, requestPrincipals, remoteIpBlocks, JWT conditions, path
// templates) is rejected with a reason rather than silently ignored.
import { z } from 'zod';
import { validIpBlock } from '../policy/authz/match.ts';

const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    'not a valid label key',
  )
  .max(316);
const labelValue = z
  .string()
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'not a valid label value')
  .max(63);
const labels = z.record(labelKey, labelValue);
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)')
  .max(63);

/** Istio's string patterns: exact, `prefix*`, `*suffix` or `*`; a `*` anywhere else is not supported. */
const pattern = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (s) => s === '*' || !s.slice(1, -1).includes('*'),
    "'*' is supported only as the first or last character (exact, prefix*, *suffix or *)",
  );
const patterns = z.array(pattern);
const ipBlock = z
  .string()
  .refine(validIpBlock, 'not a valid IP address or CIDR (e.g. 10.1.0.0/16 or 10.1.1.10)');
const portString = z
  .string({ error: 'AuthorizationPolicy ports are strings: quote the number, e.g. "8080"' })
  .regex(/^[0-9]+$/, 'must be a port number as a string, e.g. "8080"')
  .refine((s) => Number(s) >= 1 && Number(s) <= 65535, 'port out of range 1-65535');
const path = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => !/[{}]/.test(s), 'path templates ({*}, {**}) are not supported by the testbed')
  .refine(
    (s) => s === '*' || !s.slice(1, -1).includes('*'),
    "'*' is supported only as the first or last character (exact, prefix*, *suffix or *)",
  )
  .refine(
    (s) => s === '*' || s.startsWith('/') || s.startsWith('*'),
    "a path must start with '/' (or be a *suffix pattern)",
  );

const nonEmpty = (o: Record<string, unknown[] | undefined>) =>
  Object.values(o).some((v) => v !== undefined && v.length > 0);

const source = z
  .strictObject({
    principals: patterns.optional(),
    notPrincipals: patterns.optional(),
    namespaces: patterns.optional(),
    notNamespaces: patterns.optional(),
    ipBlocks: z.array(ipBlock).optional(),
    notIpBlocks: z.array(ipBlock).optional(),
  })
  .refine(nonEmpty, 'a source must set at least one field (omit `from` to match every source)');

const operation = z
  .strictObject({
    hosts: patterns.optional(),
    notHosts: patterns.optional(),
    ports: z.array(portString).optional(),
    notPorts: z.array(portString).optional(),
    methods: patterns.optional(),
    notMethods: patterns.optional(),
    paths: z.array(path).optional(),
    notPaths: z.array(path).optional(),
  })
  .refine(nonEmpty, 'an operation must set at least one field (omit `to` to match every operation)');

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CONDITION_KEYS = ['source.ip', 'source.namespace', 'source.principal', 'destination.port'];

const condition = z
  .strictObject({
    key: z.string().min(1),
    values: z.array(z.string().min(1)).optional(),
    notValues: z.array(z.string().min(1)).optional(),
  })
  .superRefine((c, ctx) => {
    const header = /^request\.headers\[(.*)\]$/.exec(c.key);
    if (header) {
      if (!HEADER_NAME.test(header[1]!))
        ctx.addIssue({ code: 'custom', path: ['key'], message: `'${header[1]}' is not a valid header name` });
    } else if (!CONDITION_KEYS.includes(c.key))
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `unsupported condition key '${c.key}' (supported: request.headers[<name>], ${CONDITION_KEYS.join(', ')})`,
      });
    if (!c.values?.length && !c.notValues?.length)
      ctx.addIssue({ code: 'custom', message: 'a condition needs values or notValues' });
    (['values', 'notValues'] as const).forEach((f) =>
      c[f]?.forEach((v, i) => {
        const at = [f, i];
        if (c.key === 'source.ip' && !validIpBlock(v))
          ctx.addIssue({ code: 'custom', path: at, message: `'${v}' is not an IP address or CIDR` });
        else if (
          c.key === 'destination.port' &&
          !(/^[0-9]+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535)
        )
          ctx.addIssue({ code: 'custom', path: at, message: `'${v}' is not a port number` });
        else if (
          c.key !== 'source.ip' &&
          c.key !== 'destination.port' &&
          v !== '*' &&
          v.slice(1, -1).includes('*')
        )
          ctx.addIssue({
            code: 'custom',
            path: at,
            message: "'*' is supported only as the first or last character",
          });
      }),
    );
  });

const rule = z.strictObject({
  from: z.array(z.strictObject({ source })).optional(),
  to: z.array(z.strictObject({ operation })).optional(),
  when: z.array(condition).optional(),
});

export const authorizationPolicySchema = z.strictObject({
  apiVersion: z.literal('security.istio.io/v1'),
  kind: z.literal('AuthorizationPolicy'),
  metadata: z.strictObject({
    name: dnsLabel,
    namespace: dnsLabel.default('default'),
    labels: labels.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    selector: z.strictObject({ matchLabels: labels.optional() }).optional(),
    action: z
      .enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'])
      .refine((a) => a !== 'CUSTOM', 'action CUSTOM (external authorizer) is not supported by the testbed')
      .optional(),
    rules: z.array(rule).optional(),
  }),
});

/** An AuthorizationPolicy inline, or a file (multi-document YAML allowed) relative to the scenario file. */
export const authorizationPolicySource = z.union([
  authorizationPolicySchema,
  z.strictObject({ file: z.string().min(1) }),
]);

/** HTTP attributes of a probe: the request the client sends (path raw, with any query; normalized by the proxy). */
export const httpProbeSchema = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'a method is letters only, e.g. GET')
    .default('GET'),
  path: z
    .string()
    .regex(
      /^\/[\x21-\x7e]*$/,
      "a request target starts with '/' and holds printable ASCII without spaces (percent-encode the rest)",
    )
    .default('/'),
  /** Host header; default `<destination ip>` (port 80) or `<destination ip>:<port>`. */
  host: z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'a host is printable ASCII without spaces')
    .optional(),
  headers: z
    .record(z.string(), z.string().regex(/^[\x20-\x7e\t]*$/, 'a header value is printable ASCII (no CR/LF)'))
    .superRefine((h, ctx) => {
      for (const name of Object.keys(h)) {
        if (!HEADER_NAME.test(name))
          ctx.addIssue({ code: 'custom', path: [name], message: `'${name}' is not a valid header name` });
        else if (name.toLowerCase() === 'host')
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'set the Host header with `host`, not in headers',
          });
      }
    })
    .optional(),
});
