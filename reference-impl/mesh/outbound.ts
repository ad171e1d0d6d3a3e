// The outbound half of the sidecar: connections the app opened, redirected to OUTBOUND_PORT. To a mesh member
// the sidecar opens mutual TLS with this workload's certificate and checks that the server presents the
// identity the control plane expects at that address (Istio's secure naming); to anything else it connects
// in plaintext. Either way it is a byte pipe: HTTP is parsed (and authorized) by the destination's inbound
// sidecar, so keep-alive and pipelining pass through untouched. A failed upstream connect resets the app's
// connection: to the app that is what an L3 drop looks like (no answer, no HTTP status).
import net from 'node:net';
import tls from 'node:tls';
import { originalDst } from '../native/origdst.ts';
import { principalFromSan } from './ca.ts';
import type { SidecarConfig } from './config.ts';
import type { Counters } from './counters.ts';

export class Outbound {
  private cfg: SidecarConfig | undefined;
  private ctx: tls.SecureContext | undefined;
  /** TLS sessions per peer address: resumption skips the certificate exchange on the next connection. */
  private readonly sessions = new Map<string, Buffer>();
  readonly server: net.Server;

  constructor(private readonly counters: Counters) {
    this.server = net.createServer({ noDelay: true }, (s) => this.onConnection(s));
  }

  configure(cfg: SidecarConfig): void {
    const rotated = this.cfg?.certPem !== cfg.certPem;
    this.cfg = cfg;
    this.ctx = tls.createSecureContext({ key: cfg.keyPem, cert: cfg.certPem, ca: cfg.caPems });
    // A resumed session would present the old certificate's identity: forget them on rotation.
    if (rotated) this.sessions.clear();
  }

  private onConnection(app: net.Socket): void {
    app.on('error', () => this.counters.inc('outboundSocketError'));
    const cfg = this.cfg;
    let dst: { address: string; port: number };
    try {
      dst = originalDst(app);
    } catch {
      this.counters.inc('outboundNotRedirected');
      app.destroy();
      return;
    }
    if (!cfg) {
      this.counters.inc('outboundBeforeConfig');
      app.resetAndDestroy();
      return;
    }
    const expect = cfg.meshPeers[dst.address];
    let up: net.Socket;
    let ready: string;
    if (expect !== undefined) {
      this.counters.inc('outboundMtls');
      const session = this.sessions.get(dst.address);
      const t = tls.connect({
        host: dst.address,
        port: dst.port,
        secureContext: this.ctx,
        session,
        // Not a host name: the server must present the SPIFFE ID expected at this address.
        checkServerIdentity: (_host, cert) => {
          const got = principalFromSan(cert.subjectaltname);
          return got !== undefined && `spiffe://${got}` === expect
            ? undefined
            : new Error(
                `secure naming: ${dst.address} presented ${cert.subjectaltname ?? 'no SAN'}, expected ${expect}`,
              );
        },
      });
      t.setNoDelay(true);
      t.on('session', (s: Buffer) => this.sessions.set(dst.address, s));
      up = t;
      ready = 'secureConnect';
    } else {
      this.counters.inc('outboundPlaintext');
      up = net.connect({ host: dst.address, port: dst.port, noDelay: true });
      ready = 'connect';
    }
    const timer = setTimeout(() => up.destroy(new Error('connect timeout')), cfg.connectTimeoutMs);
    let connected = false;
    up.once(ready, () => {
      connected = true;
      clearTimeout(timer);
      app.pipe(up);
      up.pipe(app);
    });
    up.on('error', (e: Error) => {
      clearTimeout(timer);
      if (!connected) {
        this.counters.inc(
          /secure naming/.test(e.message) ? 'outboundSecureNamingFailed' : 'outboundConnectFailed',
        );
        this.sessions.delete(dst.address);
        app.resetAndDestroy();
      } else app.destroy();
    });
    up.on('close', () => {
      clearTimeout(timer);
      if (connected) app.end();
    });
    app.on('close', () => up.destroy());
    app.on('end', () => connected && up.end());
  }

  close(): void {
    this.server.close();
  }
}
