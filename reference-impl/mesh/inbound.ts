// The inbound half of the sidecar: connections redirected to INBOUND_PORT. Peer identity comes only from the
// peer's certificate (mutual TLS, verified against the control plane's CA); a peer outside the mesh is
// plaintext and has no identity. HTTP ports are authorized per request (keep-alive: every request on the
// connection), other TCP ports once per connection. Allowed traffic goes to the app on 127.0.0.1:<port> from
// the proxy's uid (not redirected again); denied HTTP gets Envoy's `403 RBAC: access denied`, denied TCP is
// closed.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { evaluateAuthz } from '../../src/policy/authz/engine.ts';
import type { AuthorizationPolicy, L7Request, L7Verdict } from '../../src/policy/authz/model.ts';
import { originalDst } from '../native/origdst.ts';
import { namespaceOfPrincipal, principalFromSan } from './ca.ts';
import type { SidecarConfig } from './config.ts';
import type { Counters } from './counters.ts';

/** What the sidecar knows about one inbound connection. */
interface ConnInfo {
  port: number;
  peerIp: string;
  principal?: string;
}

/** Identity headers a client might try to forge: never trusted, stripped before the app sees the request. */
const IDENTITY_HEADERS = ['x-forwarded-client-cert', 'x-spiffe-id', 'x-istio-principal'];

export function plainAddress(a: string | undefined): string {
  return a?.startsWith('::ffff:') ? a.slice(7) : (a ?? '');
}

export class Inbound {
  private cfg: SidecarConfig | undefined;
  private readonly tlsServer: tls.Server;
  private readonly httpServer: http.Server;
  private readonly info = new WeakMap<net.Socket, ConnInfo>();
  private readonly upstream = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  readonly server: net.Server;

  constructor(private readonly counters: Counters) {
    // Never listening itself: sockets are handed to it once we know the peer must speak TLS.
    this.tlsServer = tls.createServer({ requestCert: true, rejectUnauthorized: true });
    this.tlsServer.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s));
    this.tlsServer.on('tlsClientError', (e: Error, s: tls.TLSSocket) => {
      this.counters.inc(`tlsRejected:${tlsReason(e)}`);
      s.destroy();
    });
    this.httpServer = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.onRequest(req, res));
    this.httpServer.on('clientError', (_e, s: net.Socket) => {
      this.counters.inc('httpMalformed');
      if (s.writable) s.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      else s.destroy();
    });
    this.server = net.createServer({ noDelay: true }, (s) => this.onConnection(s));
  }

  configure(cfg: SidecarConfig): void {
    this.cfg = cfg;
    // New handshakes use the new certificate; connections already up keep theirs (rotation drops nothing).
    this.tlsServer.setSecureContext({ key: cfg.keyPem, cert: cfg.certPem, ca: cfg.caPems });
  }

  private onConnection(sock: net.Socket): void {
    sock.on('error', () => this.counters.inc('inboundSocketError'));
    const cfg = this.cfg;
    let port: number;
    try {
      port = originalDst(sock).port;
    } catch {
      this.counters.inc('inboundNotRedirected');
      sock.destroy();
      return;
    }
    if (!cfg) {
      // Before the first config nothing is authorized: fail closed.
      this.counters.inc('inboundBeforeConfig');
      sock.destroy();
      return;
    }
    const peerIp = plainAddress(sock.remoteAddress);
    this.counters.inc('inboundConnections');
    if (cfg.meshPeers[peerIp] !== undefined) {
      // A mesh member must prove who it is (STRICT for members); whatever it presents decides the identity.
      this.info.set(sock, { port, peerIp });
      this.tlsServer.emit('connection', sock);
    } else {
      this.counters.inc('inboundPlaintext');
      this.dispatch(sock, { port, peerIp });
    }
  }

  private onSecure(s: tls.TLSSocket): void {
    // The TLS socket wraps the raw one: its peer address and redirected port are the raw socket's.
    const raw = (s as unknown as { _parent?: net.Socket })._parent;
    const base = raw ? this.info.get(raw) : undefined;
    if (!base || !s.authorized) {
      this.counters.inc('tlsRejected:unauthorized');
      s.destroy();
      return;
    }
    const principal = principalFromSan(s.getPeerCertificate().subjectaltname);
    if (!principal) {
      // Chains to our CA but names no workload: treated as no identity at all, like Istio.
      this.counters.inc('tlsNoSpiffeId');
    }
    this.counters.inc('inboundMtls');
    s.on('error', () => this.counters.inc('inboundSocketError'));
    this.dispatch(s, { ...base, principal });
  }

  private dispatch(s: net.Socket, c: ConnInfo): void {
    const cfg = this.cfg!;
    this.info.set(s, c);
    if (cfg.httpPorts.includes(c.port)) {
      this.httpServer.emit('connection', s);
      return;
    }
    const v = this.authorize({ source: this.source(c), port: c.port, protocol: 'TCP' });
    if (!v.allowed) {
      s.destroy();
      return;
    }
    const up = net.connect({ host: '127.0.0.1', port: c.port, noDelay: true });
    up.on('error', () => {
      this.counters.inc('upstreamError');
      s.destroy();
    });
    s.on('close', () => up.destroy());
    up.on('close', () => s.destroy());
    s.pipe(up);
    up.pipe(s);
  }

  private source(c: ConnInfo): L7Request['source'] {
    return c.principal
      ? { principal: c.principal, namespace: namespaceOfPrincipal(c.principal), ip: c.peerIp }
      : { ip: c.peerIp };
  }

  private authorize(req: L7Request): L7Verdict {
    const cfg = this.cfg!;
    const v = evaluateAuthz(cfg.policies as AuthorizationPolicy[], cfg.workload, req, {
      rootNamespace: cfg.rootNamespace,
    });
    const by = v.reason.policy
      ? `${v.reason.action}:${v.reason.policy}#${v.reason.rule}`
      : v.allowed
        ? 'no-allow-policy'
        : 'no-allow-matched';
    this.counters.inc(v.allowed ? 'allowed' : 'denied');
    this.counters.inc(
      `${v.allowed ? 'allow' : 'deny'}:${req.protocol}:${v.denial === 400 ? 'malformed' : by}`,
    );
    return v;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const c = this.info.get(req.socket);
    if (!c || !this.cfg) {
      res.writeHead(503).end();
      return;
    }
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i]!;
      const prev = headers[k];
      headers[k] = prev === undefined ? req.rawHeaders[i + 1]! : `${prev},${req.rawHeaders[i + 1]!}`;
    }
    const v = this.authorize({
      source: this.source(c),
      port: c.port,
      protocol: 'HTTP',
      method: req.method,
      path: req.url,
      host: req.headers.host,
      headers,
    });
    if (!v.allowed) {
      const body = v.denial === 400 ? 'Bad Request' : 'RBAC: access denied';
      res.writeHead(v.denial === 400 ? 400 : 403, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      req.resume();
      return;
    }
    const out = { ...req.headers };
    for (const h of IDENTITY_HEADERS) delete out[h];
    // What the app may trust: set by the proxy from the verified certificate (Envoy's XFCC, `URI=` part).
    if (c.principal) out['x-forwarded-client-cert'] = `URI=spiffe://${c.principal}`;
    const up = http.request(
      {
        host: '127.0.0.1',
        port: c.port,
        method: req.method,
        path: req.url,
        headers: out,
        agent: this.upstream,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      this.counters.inc('upstreamError');
      if (!res.headersSent) res.writeHead(503, { 'content-length': 0 }).end();
      else res.destroy();
    });
    req.pipe(up);
  }

  close(): void {
    this.server.close();
    this.upstream.destroy();
  }
}

function tlsReason(e: Error): string {
  const code = (e as { code?: string }).code ?? '';
  if (/NO_CERTIFICATE|PEER_DID_NOT_RETURN/i.test(code + e.message)) return 'noClientCert';
  if (/UNKNOWN_CA|unable to get|self.signed|CERTIFICATE_VERIFY/i.test(code + e.message))
    return 'untrustedCert';
  if (/WRONG_VERSION|HTTP_REQUEST|UNKNOWN_PROTOCOL|packet length/i.test(code + e.message)) return 'notTls';
  return 'handshake';
}
