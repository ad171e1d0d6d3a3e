#!/usr/bin/python3
"""Mininet driver for the testbed: JSON lines on stdin, JSON lines on stdout.

Kept small on purpose (DESIGN.md): it builds the Kubernetes-shaped topology with real Mininet objects, reports
each host's PID and adds/removes pod hosts; TypeScript does everything else by entering namespaces by PID.
Requests:  {"id": n, "op": "build" | "add_host" | "del_host" | "stop", ...}
Responses: {"id": n, "ok": true, "result": ...} or {"id": n, "ok": false, "error": "..."}
When stdin closes (the harness died) the driver tears the network down itself, so nothing is left behind.
"""
import json
import os
import signal
import sys

# The protocol owns the real stdout; anything Mininet prints goes to stderr so it cannot corrupt a response.
PROTO_FD = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

from mininet.log import setLogLevel  # noqa: E402
from mininet.link import Intf, Link, TCLink  # noqa: E402
from mininet.net import Mininet  # noqa: E402
from mininet.node import Host  # noqa: E402
from mininet.node import Switch  # noqa: E402

setLogLevel('error')


def reply(obj):
    data = (json.dumps(obj) + '\n').encode()
    while data:
        data = data[os.write(PROTO_FD, data):]


class BareIntf(Intf):
    """An interface Mininet does not configure: the driver sets addresses, MTU and state itself in one batched
    command per host, instead of Mininet's four ifconfig round trips per interface."""

    def config(self, **_params):
        return {}


class FastHost(Host):
    """A Mininet host whose shell start does not wait for the prompt, so many shells start in parallel;
    `finish_start()` waits for it afterwards."""

    def startShell(self, mnopts=None):
        import pty
        import select
        opts = '-cd' if mnopts is None else mnopts
        if self.inNamespace:
            opts += 'n'
        cmd = ['mnexec', opts, 'env', 'PS1=' + chr(127), 'bash', '--norc', '--noediting', '-is', 'mininet:' + self.name]
        self.master, self.slave = pty.openpty()
        self.shell = self._popen(cmd, stdin=self.slave, stdout=self.slave, stderr=self.slave, close_fds=False)
        self.stdin = os.fdopen(self.master, 'r')
        self.stdout = self.stdin
        self.pid = self.shell.pid
        self.pollOut = select.poll()
        self.pollOut.register(self.stdout)
        self.outToNode[self.stdout.fileno()] = self
        self.inToNode[self.stdin.fileno()] = self
        self.execed = False
        self.lastCmd = None
        self.lastPid = None
        self.readbuf = ''
        self.waiting = True

    def finish_start(self):
        if not self.waiting:
            return
        while True:
            data = self.read(1024)
            if data and data[-1] == chr(127):
                break
            self.pollOut.poll()
        self.waiting = False
        self.cmd('unset HISTFILE; stty -echo; set +m; ip link set lo up')


class IpBridge(Switch):
    """A Linux bridge made with iproute2 (Mininet's LinuxBridge needs brctl from bridge-utils, which this
    machine lacks). Unlike Mininet's switches it lives in its own namespace: the root namespace stays untouched
    (no names to collide with other runs, no root firewall or br_netfilter on the path), and everything the run
    made disappears with its processes."""

    def __init__(self, name, **kwargs):
        kwargs['inNamespace'] = True
        Switch.__init__(self, name, **kwargs)

    @classmethod
    def setup(cls):
        pass

    def connected(self):
        return True

    def start(self, _controllers):
        self.cmd('ip link del dev %s 2>/dev/null; ip link add name %s type bridge forward_delay 0 stp_state 0' % (self, self))
        for i in self.intfList():
            if self.name in i.name:
                self.cmd('ip link set dev %s master %s' % (i, self))
        self.cmd('ip link set dev %s up' % self)

    def stop(self, deleteIntfs=True):
        self.cmd('ip link del dev %s' % self)
        super(IpBridge, self).stop(deleteIntfs)


class Driver:
    def __init__(self):
        self.net = None
        self.prefix = ''
        self.link_params = {}
        self.mtu = None
        self.hosts = {}      # testbed host name -> mininet Host
        self.nodes = {}      # k8s node name -> {'host', 'ip'}
        self.pod_links = {}  # pod host name -> Link
        self.pod_seq = 0

    # --- helpers -------------------------------------------------------------------------------------
    def _link(self, a, b):
        if self.link_params:
            return self.net.addLink(a, b, cls=TCLink, **self.link_params)
        return self.net.addLink(a, b, cls=Link, intf=BareIntf)

    def _up(self, intf):
        mtu = ' mtu %d' % self.mtu if self.mtu else ''
        return 'ip link set dev %s%s up' % (intf, mtu)

    def _run(self, node, cmds):
        self._run_many([(node, cmds)])

    def _new_host(self, mn_name, wait=True):
        h = self.net.addHost(mn_name, cls=FastHost, ip=None)
        if wait:
            h.finish_start()
        return h

    # The shells read commands through a pty, whose line discipline truncates lines beyond 4,095 bytes.
    MAX_LINE = 3000

    @classmethod
    def _chunks(cls, cmds):
        out, cur = [], []
        for c in cmds:
            if cur and len(' && '.join(cur + [c])) > cls.MAX_LINE:
                out.append(cur)
                cur = []
            cur.append(c)
        if cur:
            out.append(cur)
        return out

    def _run_many(self, jobs):
        """Runs each host's commands as few batched lines as possible, all hosts at once (Mininet's shells are
        independent), round by round when a host's commands need more than one line."""
        pending = [(node, self._chunks(cmds)) for node, cmds in jobs if cmds]
        while pending:
            for node, chunks in pending:
                # && so that the reported status is the first failure's, not the last command's
                node.sendCmd(' && '.join(chunks[0]) + ' ; echo __rc=$?')
            for node, chunks in pending:
                out = node.waitOutput()
                if '__rc=0' not in out:
                    raise RuntimeError('%s: %s failed: %s' % (node.name, chunks[0], out.strip()[-2000:]))
            pending = [(node, chunks[1:]) for node, chunks in pending if len(chunks) > 1]

    # --- operations ----------------------------------------------------------------------------------
    def build(self, req):
        """Phases, so that slow per-host round trips overlap: start every shell, create the links, then one
        batched configuration command per host, all hosts at once."""
        self.prefix = req['prefix']
        topo = req['topology']
        links = topo.get('links') or {}
        if links.get('bandwidthMbit'):
            self.link_params = {'bw': links['bandwidthMbit']}
        self.mtu = links.get('mtu')
        self.net = Mininet(topo=None, build=False, controller=None, switch=IpBridge, link=Link,
                           autoSetMacs=False, waitConnected=False)
        p = self.prefix
        forward = 'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0'
        # 1. shells
        router = self._new_host(p + 'r', wait=False)
        self.hosts['router'] = router
        for cluster in topo['clusters']:
            for node in cluster['nodes']:
                h = self._new_host('%sn%d' % (p, len(self.nodes)), wait=False)
                self.hosts['node:' + node['name']] = h
                self.nodes[node['name']] = {'host': h, 'ip': node['ip']}
        for k, ext in enumerate(topo['externals']):
            self.hosts['ext:' + ext['name']] = self._new_host('%se%d' % (p, k), wait=False)
        pod_hosts = [(pod, self._new_pod_host()) for pod in req.get('pods', [])]
        for h in list(self.hosts.values()) + [h for _, h in pod_hosts]:
            h.finish_start()
        # 2. switches and links; 3. per-host command batches
        batch = {}

        def add(h, *cmds):
            batch.setdefault(h, []).extend(cmds)

        add(router, forward)
        switches = []
        for ci, cluster in enumerate(topo['clusters']):
            sw = self.net.addSwitch('%ss%d' % (p, ci), cls=IpBridge, dpid='%016x' % (ci + 1))
            switches.append(sw)
            plen = cluster['underlayCIDR'].split('/')[1]
            ri = self._link(router, sw).intf1.name
            add(router, self._up(ri), 'ip addr add %s/%s dev %s' % (cluster['gateway'], plen, ri))
            for node in cluster['nodes']:
                h = self.nodes[node['name']]['host']
                ni_name = self._link(h, sw).intf1.name
                add(h, forward, self._up(ni_name), 'ip addr add %s/%s dev %s' % (node['ip'], plen, ni_name))
                for other in cluster['nodes']:
                    if other['name'] != node['name']:
                        add(h, 'ip route add %s via %s' % (other['podCIDR'], other['ip']))
                add(h, 'ip route add default via %s' % cluster['gateway'])
                add(router, 'ip route add %s via %s' % (node['podCIDR'], node['ip']))
        xsw = self.net.addSwitch(p + 'sx', cls=IpBridge, dpid='%016x' % 0xffff)
        switches.append(xsw)
        xplen = topo['externalCIDR'].split('/')[1]
        xi = self._link(router, xsw).intf1.name
        add(router, self._up(xi), 'ip addr add %s/%s dev %s' % (topo['externalGateway'], xplen, xi))
        for ext in topo['externals']:
            h = self.hosts['ext:' + ext['name']]
            ei = self._link(h, xsw).intf1.name
            add(h, self._up(ei), 'ip addr add %s/%s dev %s' % (ext['ip'], xplen, ei),
                'ip route add default via %s' % topo['externalGateway'])
        for sw in switches:
            sw.start([])
            cmds = ['ip link set dev %s mtu %d' % (sw.name, self.mtu)] if self.mtu else []
            cmds += [self._up(intf.name) for intf in sw.intfList() if intf.name != 'lo']
            add(sw, *cmds)
        for pod, h in pod_hosts:
            for host, cmds in self._attach_pod(pod, h):
                add(host, *cmds)
        self._run_many(list(batch.items()))
        return self.pids()

    def _new_pod_host(self, wait=False):
        h = self._new_host('%sp%d' % (self.prefix, self.pod_seq), wait=wait)
        self.pod_seq += 1
        return h

    def _attach_pod(self, pod, h):
        """A pod: a host with address/32 and a veth to its node; the node answers ARP for its own underlay
        address on that veth and routes the pod's /32 into it (Calico-style routed pod, no bridge, no NAT).
        Creates the link; returns the commands that configure both ends."""
        name = pod['name']
        if name in self.hosts:
            raise RuntimeError('host %s exists' % name)
        node = self.nodes.get(pod['node'])
        if node is None:
            raise RuntimeError('unknown node %s' % pod['node'])
        link = self._link(h, node['host'])
        pi, ni = link.intf1.name, link.intf2.name
        self.hosts[name] = h
        self.pod_links[name] = link
        return [(h, [self._up(pi), 'ip addr add %s/32 dev %s' % (pod['ip'], pi),
                     'ip route add %s dev %s scope link' % (node['ip'], pi),
                     'ip route add default via %s dev %s' % (node['ip'], pi)]),
                (node['host'], [self._up(ni), 'ip addr add %s/32 dev %s' % (node['ip'], ni),
                                'ip route add %s/32 dev %s scope link' % (pod['ip'], ni)])]

    def add_host(self, pod):
        if pod['name'] in self.hosts:
            raise RuntimeError('host %s exists' % pod['name'])
        h = self._new_pod_host(wait=True)
        try:
            self._run_many(self._attach_pod(pod, h))
        except Exception:
            self.hosts.pop(pod['name'], None)
            self.pod_links.pop(pod['name'], None)
            self.net.delHost(h)
            raise
        return {'name': pod['name'], 'pid': h.pid}

    def del_host(self, req):
        name = req['name']
        h = self.hosts.pop(name, None)
        if h is None:
            raise RuntimeError('no host %s' % name)
        link = self.pod_links.pop(name, None)
        if link is not None:
            link.stop()
            if link in self.net.links:
                self.net.links.remove(link)
        self.net.delHost(h)
        return {}

    def pids(self):
        return {name: h.pid for name, h in self.hosts.items()}

    def stop(self):
        """Every host and bridge lives in its own namespace, which the kernel removes with its veths once the
        last process in it exits: ending the shells is the whole teardown (the harness has already ended the
        programs it started in them). Much faster than Mininet's link-by-link stop."""
        if self.net is None:
            return
        net, self.net = self.net, None
        nodes = net.hosts + net.switches
        for n in nodes:
            try:
                n.terminate()
            except Exception:  # already gone
                pass
        for n in nodes:
            try:
                n.shell.wait(timeout=5)
            except Exception:
                try:
                    n.shell.kill()
                    n.shell.wait(timeout=5)
                except Exception:
                    pass


def main():
    # argv[1] is the run prefix; it is only there so that `cleanup` can recognise this process.
    d = Driver()

    def on_signal(_sig, _frm):
        d.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    reply({'ready': True, 'pid': os.getpid()})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            rid = req.get('id')
            try:
                op = req['op']
                if op == 'build':
                    res = d.build(req)
                elif op == 'add_host':
                    res = d.add_host(req['pod'])
                elif op == 'del_host':
                    res = d.del_host(req)
                elif op == 'pids':
                    res = d.pids()
                elif op == 'stop':
                    d.stop()
                    reply({'id': rid, 'ok': True, 'result': {}})
                    return
                else:
                    raise RuntimeError('unknown op %s' % op)
                reply({'id': rid, 'ok': True, 'result': res})
            except Exception as e:  # report, keep serving; the harness decides whether to stop
                reply({'id': rid, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e)})
    finally:
        # stdin closed or an unexpected error: never leave the network behind.
        d.stop()


if __name__ == '__main__':
    main()
