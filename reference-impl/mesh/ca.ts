// The mesh's certificate authority (what istiod's CA does): a self-signed root, and short-lived workload
// certificates whose only name is a SPIFFE URI SAN `spiffe://<trust domain>/ns/<ns>/sa/<sa>`. Certificates are
// built with @peculiar/x509 over Node's WebCrypto (ECDSA P-256, SHA-256), never hand-written ASN.1.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const TRUST_DOMAIN = 'cluster.local';
const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};

/** PEM strings, as node:tls takes them. */
export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

export interface Identity {
  namespace: string;
  serviceAccount: string;
}

export function spiffeId(id: Identity, trustDomain = TRUST_DOMAIN): string {
  return `spiffe://${trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export class MeshCA {
  private constructor(
    private readonly keys: CryptoKeyPair,
    private readonly cert: x509.X509Certificate,
    readonly trustDomain: string,
  ) {}

  /** A new root; `name` distinguishes CAs in tests (a foreign CA must not be trusted). */
  static async create(name = 'testbed mesh root', trustDomain = TRUST_DOMAIN): Promise<MeshCA> {
    const keys = await newKeys();
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${name}, O=${trustDomain}`,
      keys,
      notBefore,
      notAfter: new Date(notBefore.getTime() + 365 * 86_400_000),
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new MeshCA(keys, cert, trustDomain);
  }

  get rootPem(): string {
    return this.cert.toString('pem');
  }

  /**
   * A workload certificate for `id`, valid `ttlMs` from a minute ago (clock skew between processes is nil
   * here, but a certificate must never be "not yet valid" at the moment it is pushed).
   */
  async issue(id: Identity, ttlMs = 3_600_000): Promise<KeyAndCert> {
    const keys = await newKeys();
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.create({
      subject: `O=${this.trustDomain}`,
      issuer: this.cert.subject,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      notBefore,
      notAfter: new Date(notBefore.getTime() + ttlMs),
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        // SPIFFE X.509-SVID: exactly one URI SAN, and the subject carries no identity.
        new x509.SubjectAlternativeNameExtension(
          [{ type: 'url', value: spiffeId(id, this.trustDomain) }],
          true,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    return { keyPem: await exportKeyPem(keys.privateKey), certPem: cert.toString('pem') };
  }
}

/**
 * The principal (`cluster.local/ns/x/sa/y`, Istio's form: the SPIFFE ID without its scheme) named by a peer
 * certificate's URI SAN, or undefined when the certificate carries no single well-formed SPIFFE ID of the trust
 * domain. The caller has already verified the chain (TLS did); this only reads the name.
 */
export function principalFromSan(
  subjectAltName: string | undefined,
  trustDomain = TRUST_DOMAIN,
): string | undefined {
  if (!subjectAltName) return undefined;
  const uris = subjectAltName
    .split(/,\s*/)
    .filter((n) => n.startsWith('URI:'))
    .map((n) => n.slice(4));
  if (uris.length !== 1) return undefined;
  const m = /^spiffe:\/\/([^/]+)\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9.-]+)$/.exec(uris[0]!);
  if (!m || m[1] !== trustDomain) return undefined;
  return `${m[1]}/ns/${m[2]}/sa/${m[3]}`;
}

/** The namespace part of a principal (`cluster.local/ns/<ns>/sa/<sa>`). */
export function namespaceOfPrincipal(principal: string): string | undefined {
  return /\/ns\/([^/]+)\/sa\//.exec(principal)?.[1];
}

/** Seconds until a PEM certificate expires (for rotation decisions and tests). */
export function secondsLeft(certPem: string, now = Date.now()): number {
  return (new Date(new NodeX509(certPem).validTo).getTime() - now) / 1000;
}
