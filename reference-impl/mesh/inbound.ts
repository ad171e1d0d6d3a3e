// The inbound half of the sidecar: connections redirected to INBOUND_PORT. Peer identity comes only from the
// peer's certificate (mutual TLS, verified against the control plane's CA); a peer outside the mesh is
// plaintext and has no identity. HTTP ports are authorized per request (keep-alive: every request on the
// connection), other TCP ports once per connection. Allowed traffic goes to the app on 127.0.0.1:<port> from
// the proxy's uid (not redirected again); denied HTTP gets Envoy's `403 RBAC: access denied`, denied TCP is
// closed.
import net from 'node:net';
import tls from 'node:tls';
import { evaluateAuthz } from '../../src/policy/authz/engine.ts';
import type { AuthorizationPolicy, L7Request, L7Verdict } from '../../src/policy/authz/model.ts';
import { originalDst } from '../native/origdst.ts';
import { namespaceOfPrincipal, principalFromSan } from './ca.ts';
import type { SidecarConfig } from './config.ts';
import type { Counters } from './counters.ts';
import {
  BodyScanner,
  parseRequestHead,
  parseResponseHead,
  serializeHead,
  type RequestHead,
} from './http1.ts';

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
  private readonly info = new WeakMap<net.Socket, ConnInfo>();
  readonly server: net.Server;

  constructor(private readonly counters: Counters) {
    // Never listening itself: sockets are handed to it once we know the peer must speak TLS.
    this.tlsServer = tls.createServer({ requestCert: true, rejectUnauthorized: true });
    this.tlsServer.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s));
    this.tlsServer.on('tlsClientError', (e: Error, s: tls.TLSSocket) => {
      this.counters.inc(`tlsRejected:${tlsReason(e)}`);
      s.destroy();
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
      this.serveHttp(s, c);
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

  /**
   * HTTP/1.1 on one connection, authorized per request: the request head is parsed (what the engine needs),
   * bodies and responses are forwarded as bytes with only their ends counted (http1.ts), over one upstream
   * connection to the app. One request at a time: a pipelined request waits until the response before it has
   * been forwarded, so a 403 is always written in order.
   */
  private serveHttp(s: net.Socket, c: ConnInfo): void {
    let buf: Buffer = Buffer.alloc(0);
    let up: net.Socket | undefined;
    let reqBody: BodyScanner | undefined;
    let forwardBody = false;
    let inflight: { isHead: boolean; answered: boolean } | undefined;
    let respBuf: Buffer = Buffer.alloc(0);
    let respBody: BodyScanner | undefined;
    let closeAfter = false;
    let closing = false;

    const finishResponse = (close: boolean) => {
      inflight = undefined;
      respBody = undefined;
      if (close || closeAfter) {
        closing = true;
        s.end();
        up?.end();
        return;
      }
      pump();
    };
    const onUpData = (d: Buffer) => {
      respBuf = respBuf.length ? Buffer.concat([respBuf, d]) : d;
      while (respBuf.length && inflight) {
        if (!respBody) {
          const r = parseResponseHead(respBuf, inflight.isHead);
          if ('need' in r) return;
          if ('error' in r) {
            this.counters.inc('upstreamError');
            s.destroy();
            up?.destroy();
            return;
          }
          inflight.answered = true;
          s.write(respBuf.subarray(0, r.used));
          respBuf = respBuf.subarray(r.used);
          if (r.status >= 100 && r.status < 200) continue; // interim (100 Continue): the final one follows
          respBody = new BodyScanner(r.framing);
          if (r.close) closeAfter = true;
        }
        let end: number;
        try {
          end = respBody.feed(respBuf);
        } catch {
          this.counters.inc('upstreamError');
          s.destroy();
          return;
        }
        const part = end < 0 ? respBuf : respBuf.subarray(0, end);
        if (part.length) s.write(part);
        respBuf = end < 0 ? Buffer.alloc(0) : respBuf.subarray(end);
        if (end < 0 && !respBody.done) return;
        finishResponse(false);
      }
    };
    const upstream = (): net.Socket => {
      if (up && !up.destroyed) return up;
      const u = net.connect({ host: '127.0.0.1', port: c.port, noDelay: true });
      u.on('data', onUpData);
      u.on('error', () => this.counters.inc('upstreamError'));
      u.on('close', () => {
        if (up === u) up = undefined;
        respBuf = Buffer.alloc(0);
        if (!inflight) return;
        if (respBody && !respBody.done && !respBody.toClose) {
          s.destroy();
          return;
        }
        if (respBody) {
          // Read-until-close body: the close is its end.
          finishResponse(true);
          return;
        }
        if (!inflight.answered)
          s.write('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        closing = true;
        s.end();
      });
      up = u;
      return u;
    };
    const reply = (code: 400 | 403, close: boolean) => {
      const body = code === 400 ? 'Bad Request' : 'RBAC: access denied';
      s.write(
        `HTTP/1.1 ${code} ${code === 400 ? 'Bad Request' : 'Forbidden'}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`,
      );
    };
    const pump = (): void => {
      for (;;) {
        if (closing) return;
        if (reqBody) {
          if (!buf.length) return;
          let end: number;
          try {
            end = reqBody.feed(buf);
          } catch {
            this.counters.inc('httpMalformed');
            reply(400, true);
            closing = true;
            s.end();
            return;
          }
          const part = end < 0 ? buf : buf.subarray(0, end);
          if (forwardBody && part.length) upstream().write(part);
          buf = end < 0 ? Buffer.alloc(0) : buf.subarray(end);
          if (end < 0 && !reqBody.done) return;
          reqBody = undefined;
          continue;
        }
        if (inflight || !buf.length) return;
        const r = parseRequestHead(buf);
        if ('need' in r) return;
        if ('error' in r) {
          this.counters.inc('httpMalformed');
          reply(400, true);
          closing = true;
          s.end();
          return;
        }
        buf = buf.subarray(r.used);
        const h = r.head;
        const headers: Record<string, string> = {};
        for (const [k, v] of h.headers) headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
        const host = h.headers.find(([k]) => k.toLowerCase() === 'host')?.[1];
        const v = this.authorize({
          source: this.source(c),
          port: c.port,
          protocol: 'HTTP',
          method: h.method,
          path: h.target,
          host,
          headers,
        });
        const scanner = new BodyScanner(h.body);
        reqBody = scanner.done ? undefined : scanner;
        if (!v.allowed) {
          forwardBody = false;
          reply(v.denial === 400 ? 400 : 403, h.close);
          if (h.close) {
            closing = true;
            s.end();
            return;
          }
          continue;
        }
        forwardBody = true;
        inflight = { isHead: h.method === 'HEAD', answered: false };
        closeAfter = h.close;
        upstream().write(serializeHead(this.forwardedHead(h, c)));
      }
    };
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      pump();
    });
    s.on('end', () => {
      if (inflight) closeAfter = true;
      else {
        closing = true;
        up?.end();
        s.end();
      }
    });
    s.on('close', () => up?.destroy());
  }

  /** The head the app receives: forged identity headers dropped, the verified identity added (XFCC). */
  private forwardedHead(h: RequestHead, c: ConnInfo): RequestHead {
    const headers = h.headers.filter(([k]) => !IDENTITY_HEADERS.includes(k.toLowerCase()));
    if (c.principal) headers.push(['x-forwarded-client-cert', `URI=spiffe://${c.principal}`]);
    return { ...h, headers };
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

  close(): void {
    this.server.close();
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
