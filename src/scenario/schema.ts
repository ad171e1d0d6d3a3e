// The scenario file format, as zod schemas. Every object is strict: an unknown field is an error, so a typo
// never silently changes an experiment. Semantic checks that need the whole file (references, duplicates,
// addresses) live in validate.ts.
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { authorizationPolicySchema, authorizationPolicySource, httpProbeSchema } from './authz-schema.ts';

export const cidrSchema = z.string().refine((s) => {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}, 'not a valid CIDR (expected e.g. 10.0.0.0/8 or fd00::/64)');

export const ipSchema = z.string().refine((s) => ipaddr.isValid(s), 'not a valid IP address');

export const ipFamilySchema = z.enum(['IPv4', 'IPv6']);
/** `[IPv4]`, `[IPv6]`, or dual-stack `[IPv4, IPv6]` / `[IPv6, IPv4]` (the first is the primary family). */
const ipFamilies = z
  .array(ipFamilySchema)
  .min(1)
  .max(2)
  .refine((f) => new Set(f).size === f.length, 'a family may appear only once');

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
const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)')
  .max(63);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);
const portNumber = z.int().min(1).max(65535);
// IANA_SVC_NAME, as Kubernetes validates named ports.
const portName = z
  .string()
  .regex(
    /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    'not a valid port name (lowercase, digits, -, at least one letter)',
  )
  .max(15);

const selectorRequirement = z
  .strictObject({
    key: labelKey,
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(labelValue).optional(),
  })
  .superRefine((req, ctx) => {
    const hasValues = req.values !== undefined && req.values.length > 0;
    if ((req.operator === 'In' || req.operator === 'NotIn') && !hasValues)
      ctx.addIssue({
        code: 'custom',
        path: ['values'],
        message: `operator ${req.operator} needs a non-empty values list`,
      });
    if (
      (req.operator === 'Exists' || req.operator === 'DoesNotExist') &&
      req.values !== undefined &&
      req.values.length > 0
    )
      ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${req.operator} takes no values` });
  });

export const labelSelectorSchema = z.strictObject({
  matchLabels: labels.optional(),
  matchExpressions: z.array(selectorRequirement).optional(),
});

const ipBlock = z
  .strictObject({ cidr: cidrSchema, except: z.array(cidrSchema).optional() })
  .superRefine((b, ctx) => {
    // As the API server validates: every except range must be a strict subset of cidr.
    let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      net = ipaddr.parseCIDR(b.cidr);
    } catch {
      return;
    }
    b.except?.forEach((e, i) => {
      try {
        const [addr, bits] = ipaddr.parseCIDR(e);
        if (addr.kind() !== net[0].kind() || bits <= net[1] || !addr.match(net))
          ctx.addIssue({
            code: 'custom',
            path: ['except', i],
            message: `must be a strict subset of cidr ${b.cidr}`,
          });
      } catch {
        // reported by cidrSchema
      }
    });
  });

const peer = z
  .strictObject({
    podSelector: labelSelectorSchema.optional(),
    namespaceSelector: labelSelectorSchema.optional(),
    ipBlock: ipBlock.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.ipBlock && (p.podSelector || p.namespaceSelector))
      ctx.addIssue({
        code: 'custom',
        message: 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer',
      });
    if (!p.ipBlock && !p.podSelector && !p.namespaceSelector)
      ctx.addIssue({ code: 'custom', message: 'a peer needs podSelector, namespaceSelector or ipBlock' });
  });

const policyPort = z
  .strictObject({
    protocol: protocol.optional(),
    port: z.union([portNumber, portName]).optional(),
    endPort: portNumber.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.endPort !== undefined) {
      if (typeof p.port !== 'number')
        ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'endPort needs a numeric port' });
      else if (p.endPort < p.port)
        ctx.addIssue({
          code: 'custom',
          path: ['endPort'],
          message: `endPort ${p.endPort} is below port ${p.port}`,
        });
    }
  });

export const networkPolicySchema = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('NetworkPolicy'),
  metadata: z.strictObject({
    name: dnsName,
    namespace: dnsName.default('default'),
    labels: labels.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    podSelector: labelSelectorSchema,
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
    ingress: z
      .array(z.strictObject({ from: z.array(peer).optional(), ports: z.array(policyPort).optional() }))
      .optional(),
    egress: z
      .array(z.strictObject({ to: z.array(peer).optional(), ports: z.array(policyPort).optional() }))
      .optional(),
  }),
});

/** A policy given inline, or a file (multi-document YAML allowed) relative to the scenario file. */
const policySource = z.union([networkPolicySchema, z.strictObject({ file: z.string().min(1) })]);

const containerPort = z.strictObject({
  port: portNumber,
  protocol: protocol.default('TCP'),
  name: portName.optional(),
});

export const podSchema = z.strictObject({
  namespace: dnsName,
  name: dnsName,
  labels: labels.default({}),
  node: dnsName,
  ports: z.array(containerPort).default([]),
  /** The pod's address (single-stack; in a dual-stack cluster: the address of its family, the other automatic). */
  ip: ipSchema.optional(),
  /** Dual-stack: one address per family (any subset of the cluster's families; the rest automatic). */
  ips: z.array(ipSchema).min(1).max(2).optional(),
  /** Service account (default `default`): the pod's mesh identity is cluster.local/ns/<ns>/sa/<sa>. */
  serviceAccount: dnsName.optional(),
  /** false: no sidecar under +l7 modes (a plaintext client, and no L7 enforcement at this pod). */
  sidecar: z.boolean().optional(),
});

/** Endpoint reference: `ns/pod`, `ext:name` or `node:name`. */
export const endpointRefSchema = z
  .string()
  .regex(
    /^([a-z0-9-]+\/[a-z0-9-]+|ext:[a-z0-9-]+|node:[a-z0-9-]+)$/,
    "expected 'namespace/pod', 'ext:name' or 'node:name'",
  );

const action = z.union([
  z.strictObject({ createPolicy: policySource }),
  z.strictObject({ updatePolicy: networkPolicySchema }),
  z.strictObject({ deletePolicy: z.strictObject({ namespace: dnsName, name: dnsName }) }),
  z.strictObject({ setPodLabels: z.strictObject({ pod: endpointRefSchema, labels }) }),
  z.strictObject({ setNamespaceLabels: z.strictObject({ namespace: dnsName, labels }) }),
  z.strictObject({ addPod: podSchema }),
  z.strictObject({ removePod: z.strictObject({ pod: endpointRefSchema }) }),
  z.strictObject({ createAuthorizationPolicy: authorizationPolicySource }),
  z.strictObject({ updateAuthorizationPolicy: authorizationPolicySchema }),
  z.strictObject({ deleteAuthorizationPolicy: z.strictObject({ namespace: dnsName, name: dnsName }) }),
]);

export const probeSchema = z
  .strictObject({
    port: z.union([portNumber, portName]),
    protocol: protocol.default('TCP'),
    /** Sources and destinations; default: every pod. */
    from: z.array(endpointRefSchema).optional(),
    to: z.array(endpointRefSchema).optional(),
    /** The connections' address family; default: every family both endpoints have (one table per family). */
    family: ipFamilySchema.optional(),
    /** An HTTP request instead of a bare connection (src/scenario/authz-schema.ts). */
    http: httpProbeSchema.optional(),
    /**
     * Expected combined reachability matrix (see src/policy/truthtable.ts for the text form): one text for every
     * family probed, or one per family (`{IPv4: ..., IPv6: ...}`).
     */
    expected: z
      .union([z.string(), z.strictObject({ IPv4: z.string().optional(), IPv6: z.string().optional() })])
      .optional(),
  })
  .refine((p) => !p.http || p.protocol === 'TCP', {
    path: ['http'],
    message: 'an HTTP probe runs over TCP (protocol must be TCP)',
  });

export const measurementSchema = z.strictObject({
  name: dnsName,
  kind: z.enum(['udp-rr', 'tcp-rr', 'tcp-crr', 'http', 'http-crr', 'iperf3', 'sockperf']),
  /** Path label for reports, e.g. same-node, cross-node, cross-cluster, external. */
  path: z.string().min(1),
  /** Address family of the measured connection; default: the destination's primary address. */
  family: ipFamilySchema.optional(),
  from: endpointRefSchema,
  to: endpointRefSchema,
  port: portNumber,
  /** Requests per repetition (RR/CRR/HTTP), after warm-up. */
  requests: z.int().min(1).optional(),
  warmup: z.int().min(0).optional(),
  /** Open-loop target rate in requests per second; absent means closed loop (back to back). */
  rate: z.number().positive().optional(),
  durationSeconds: z.number().positive().optional(),
  connections: z.int().min(1).optional(),
  payloadBytes: z.int().min(1).max(65000).optional(),
  repetitions: z.int().min(1).optional(),
});

// `+l7` adds a sidecar per pod enforcing Istio AuthorizationPolicy on top of the mode's L3 enforcement;
// `overlay-ebpf` is the overlay with its kernel data path (reference-impl/ebpf/).
export const modeSchema = z.enum([
  'none',
  'native',
  'overlay',
  'overlay-ebpf',
  'none+l7',
  'native+l7',
  'overlay+l7',
]);

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  topology: z.strictObject({
    clusters: z
      .array(
        z.strictObject({
          name: dnsName,
          /** Default `[IPv4]`. */
          ipFamilies: ipFamilies.optional(),
          podCIDR: cidrSchema.optional(),
          /** Dual-stack: one cluster pod CIDR per family. */
          podCIDRs: z.array(cidrSchema).min(1).max(2).optional(),
          nodes: z
            .array(
              z.strictObject({
                name: dnsName,
                podCIDR: cidrSchema.optional(),
                podCIDRs: z.array(cidrSchema).min(1).max(2).optional(),
              }),
            )
            .min(1),
        }),
      )
      .min(1),
    externals: z
      .array(
        z.strictObject({
          name: dnsName,
          ip: ipSchema.optional(),
          ips: z.array(ipSchema).min(1).max(2).optional(),
        }),
      )
      .default([]),
    links: z
      .strictObject({
        bandwidthMbit: z.number().positive().optional(),
        delayMs: z.number().nonnegative().optional(),
        lossPercent: z.number().min(0).max(100).optional(),
        mtu: z.int().min(576).max(9000).optional(),
      })
      .optional(),
  }),
  namespaces: z.array(z.strictObject({ name: dnsName, labels: labels.default({}) })).min(1),
  pods: z.array(podSchema).default([]),
  policies: z.array(policySource).default([]),
  /** Istio AuthorizationPolicies (security.istio.io/v1), enforced by the sidecars of the +l7 modes. */
  authorizationPolicies: z.array(authorizationPolicySource).default([]),
  /** Istio's root namespace (policies there apply to every namespace); default istio-system. */
  meshRootNamespace: dnsName.optional(),
  steps: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        actions: z.array(action).default([]),
        probes: z.array(probeSchema).default([]),
      }),
    )
    .default([]),
  /**
   * Scale sweeps: `policies` = filler-policy counts, `pods` = idle-pod counts, each added to the initial state
   * without changing the measured flow's verdict (src/experiment/fillers.ts, filler-pods.ts).
   */
  sweep: z
    .strictObject({ policies: z.array(z.int().min(0)).optional(), pods: z.array(z.int().min(0)).optional() })
    .optional(),
  measurements: z.array(measurementSchema).default([]),
  modes: z.array(modeSchema).default(['none', 'native', 'overlay', 'overlay-ebpf']),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type ScenarioParsed = z.output<typeof scenarioSchema>;
export type PodSpec = z.output<typeof podSchema>;
export type ProbeSpec = z.output<typeof probeSchema>;
export type MeasurementSpec = z.output<typeof measurementSchema>;
export type Mode = z.output<typeof modeSchema>;
