// The on-disk shape of a run's results (results/<run-id>/results.json). One file per run, rewritten atomically
// after every record, so a crash leaves the records measured so far. Raw latency is kept as HDR histograms
// (compressed base64) so every figure in a report can be re-derived from the stored data.
import { z } from 'zod';

export const RESULTS_SCHEMA_VERSION = 1;

// Loose, unlike the records: a run written by a newer version (or another platform) may carry fingerprint fields
// this one does not know; `compare` classifies those as notes instead of refusing the file.
export const envSchema = z.looseObject({
  kernel: z.string(),
  cpuModel: z.string(),
  cores: z.int().min(1),
  memoryBytes: z.number().nonnegative(),
  node: z.string(),
  tools: z.record(z.string(), z.string().nullable()),
  commit: z.string().nullable(),
  dirty: z.boolean().nullable(),
  scenarioHashes: z.record(z.string(), z.string()),
  platform: z.string(),
  modes: z.array(z.string()),
  hostname: z.string(),
  arch: z.string(),
  timestamp: z.string(),
  /** 1/5/15-minute load average when the run started: a busy machine widens every interval. */
  loadAverage: z.array(z.number()).optional(),
  /** Kubernetes platforms only: the CNI that carried (and possibly enforced) the traffic. */
  kubernetes: z
    .strictObject({
      platform: z.string(),
      cni: z.string(),
      cniVersion: z.string(),
      /** Whether the CNI enforced the posted NetworkPolicies (false: switched off for the overlay; null: unknown). */
      cniEnforced: z.boolean().nullable(),
      serverVersion: z.string().nullable(),
      kindVersion: z.string().nullable(),
    })
    .optional(),
  /** CPU idle driver, governor and guest halt-poll window (src/measure/tuning.ts); tuned = set by --tune. */
  idle: z
    .strictObject({
      driver: z.string().nullable(),
      governor: z.string().nullable(),
      haltPollNs: z.number().nullable(),
      tuned: z.boolean(),
    })
    .optional(),
  /** Test knobs set for the run (src/measure/test-knobs.ts); absent in runs older than the knobs = none set. */
  testKnobs: z.record(z.string(), z.string()).optional(),
});

export const latencySummarySchema = z.strictObject({
  count: z.int().min(0),
  minUs: z.number(),
  meanUs: z.number(),
  p50Us: z.number(),
  p90Us: z.number(),
  p99Us: z.number(),
  p999Us: z.number(),
  maxUs: z.number(),
});

export const kindSchema = z.enum(['udp-rr', 'tcp-rr', 'tcp-crr', 'http', 'http-crr', 'iperf3', 'sockperf']);

export const recordSchema = z.strictObject({
  scenario: z.string(),
  measurement: z.string(),
  kind: kindSchema,
  path: z.string(),
  mode: z.string(),
  repetition: z.int().min(0),
  from: z.string(),
  to: z.string(),
  /** Number of policies in force, set on every scale-sweep record; absent in the plain matrix. */
  policies: z.int().min(0).optional(),
  /** Number of pods in force, set on pod-count sweep records only (src/experiment/filler-pods.ts). */
  pods: z.int().min(0).optional(),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  /** Open-loop target rate (requests/s); absent = closed loop. */
  rate: z.number().positive().optional(),
  latency: z
    .strictObject({
      unit: z.literal('us'),
      /** HDR histogram, compressed base64 (hdr-histogram-js encodeIntoCompressedBase64). */
      histogram: z.string().min(1),
      summary: latencySummarySchema,
      /** The tool's own latency figures (e.g. sockperf's, which is half the round trip). */
      tool: z.record(z.string(), z.number()).optional(),
    })
    .optional(),
  throughput: z
    .strictObject({
      bitsPerSecond: z.number().nonnegative(),
      retransmits: z.number().nonnegative().optional(),
      meanRttUs: z.number().nonnegative().optional(),
      requestsPerSecond: z.number().nonnegative().optional(),
    })
    .optional(),
  errors: z.int().min(0).default(0),
  tool: z.string(),
  note: z.string().optional(),
});

export const programmingSchema = z.strictObject({
  scenario: z.string(),
  mode: z.string(),
  policies: z.int().min(0),
  /** Pods in force, on pod-count sweep points only: the time is that of the update adding pods since the last point. */
  pods: z.int().min(0).optional(),
  programmingMs: z.number().nonnegative(),
  detail: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
});

export const conformanceSchema = z.strictObject({
  mode: z.string(),
  passed: z.int().min(0),
  failed: z.int().min(0),
  unsupported: z.int().min(0),
  total: z.int().min(0),
  source: z.string(),
  /**
   * The compared cells split by the engine's expected verdict: allowed, denied at L3 (no connection), denied at
   * L7 (the sidecar's 403 / closed connection). Absent in runs made before L7 existed.
   */
  byLayer: z
    .strictObject({
      allowed: z.strictObject({ passed: z.int().min(0), failed: z.int().min(0) }),
      l3: z.strictObject({ passed: z.int().min(0), failed: z.int().min(0) }),
      l7: z.strictObject({ passed: z.int().min(0), failed: z.int().min(0) }),
    })
    .optional(),
});

export const runResultsSchema = z.strictObject({
  schemaVersion: z.literal(RESULTS_SCHEMA_VERSION),
  runId: z.string().min(1),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  quick: z.boolean().default(false),
  env: envSchema,
  scenarios: z.array(z.strictObject({ name: z.string(), file: z.string(), hash: z.string() })),
  modes: z.strictObject({
    requested: z.array(z.string()),
    ran: z.array(z.string()),
    missing: z.array(z.strictObject({ mode: z.string(), reason: z.string() })),
  }),
  records: z.array(recordSchema),
  programming: z.array(programmingSchema).default([]),
  conformance: z.array(conformanceSchema).default([]),
  /** Things a reader must know: skipped paths, unsupported workloads, failures. */
  notes: z.array(z.string()).default([]),
});

export type EnvFingerprint = z.output<typeof envSchema>;
export type ResultRecord = z.output<typeof recordSchema>;
export type ResultRecordInput = z.input<typeof recordSchema>;
export type ProgrammingRecord = z.output<typeof programmingSchema>;
export type ConformanceRecord = z.output<typeof conformanceSchema>;
export type RunResults = z.output<typeof runResultsSchema>;
export type Kind = z.output<typeof kindSchema>;
