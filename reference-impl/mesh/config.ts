// The sidecar's config, pushed by the control plane over the same unix-socket API as agents and SaPs
// (../CONTRACT.md: PUT /config with a version, GET /status). A push replaces the whole config: policies,
// certificate and key (rotation), trust bundle and mesh membership. Validated strictly: a bad push is a 400 and
// the previous config stays in force.
import { z } from 'zod';

export const sidecarConfigSchema = z.strictObject({
  version: z.int().min(1),
  /** The workload this sidecar fronts: the destination of every inbound request it authorizes. */
  workload: z.strictObject({
    namespace: z.string().min(1),
    name: z.string().min(1),
    serviceAccount: z.string().min(1),
    labels: z.record(z.string(), z.string()),
  }),
  /** PEM: this workload's certificate (SPIFFE URI SAN) and private key, and the CA roots it trusts. */
  certPem: z.string().min(1),
  keyPem: z.string().min(1),
  caPems: z.array(z.string().min(1)).min(1),
  /**
   * Mesh members by address (the address a peer's connection comes from, and the address an app dials):
   * connections to and from them are mutual TLS; the value is the SPIFFE ID the peer must present (outbound:
   * Istio's secure naming). Every other address is outside the mesh: plaintext, no identity.
   */
  meshPeers: z.record(z.string(), z.string()),
  /** Inbound ports carrying HTTP/1.1 (authorized per request); other TCP ports are authorized per connection. */
  httpPorts: z.array(z.int().min(1).max(65535)),
  /** AuthorizationPolicy objects that apply to this workload, compiled by the control plane (see mesh.ts). */
  policies: z.array(z.unknown()),
  /** Istio's root namespace (its policies apply to every namespace). */
  rootNamespace: z.string().min(1).default('istio-system'),
  /** Outbound connect timeout (ms) before the app's connection is reset. */
  connectTimeoutMs: z.int().min(1).default(2000),
});

export type SidecarConfigInput = z.input<typeof sidecarConfigSchema>;
export type SidecarConfig = z.output<typeof sidecarConfigSchema>;

export function parseSidecarConfig(body: unknown): SidecarConfig {
  const r = sidecarConfigSchema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`sidecar config: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}
