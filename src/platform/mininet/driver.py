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


def is6(addr):
    return ':' in addr


def plen(cidr):
    return cidr.split('/')[1]


def by_family(values):
    """{4: v4 value, 6: v6 value} of a per-family list (addresses or CIDRs)."""
    return {6 if is6(v) else 4: v for v in values}


def addr_cmd(addr, prefix, dev):
    # IPv6 addresses are static and skip duplicate address detection, so they are usable at once: no waiting
    # for DAD or SLAAC timing (router advertisements are not used at all).
    return 'ip addr add %s/%s dev %s%s' % (addr, prefix, dev, ' nodad' if is6(addr) else '')


# The node side of every pod veth holds this link-local address; a pod's IPv6 default route points at it (the
# IPv6 counterpart of the node's underlay /32 on the veth, Calico-style).
POD_GW6 = 'fe80::1'


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
        # Multicast snooping off: IPv6 neighbour discovery (solicited-node multicast) is flooded like ARP, with
        # no dependence on MLD reports having been seen.
        self.cmd('ip link del dev %s 2>/dev/null; ip link add name %s type bridge forward_delay 0 stp_state 0'
                 ' mcast_snooping 0' % (self, self))
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
        # No DAD for the interface's own link-local address either (it is the source of neighbour discovery);
        # set before the link comes up, when the kernel would start it.
        return 'sysctl -qw net.ipv6.conf.%s.accept_dad=0 && ip link set dev %s%s up' % (intf.replace('.', '/'), intf, mtu)

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
        forward = ('sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0'
                   ' net.ipv6.conf.all.forwarding=1 net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0'
                   ' net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0')
        quiet = 'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_ra=0'
        # 1. shells
        router = self._new_host(p + 'r', wait=False)
        self.hosts['router'] = router
        for cluster in topo['clusters']:
            for node in cluster['nodes']:
                h = self._new_host('%sn%d' % (p, len(self.nodes)), wait=False)
                self.hosts['node:' + node['name']] = h
                self.nodes[node['name']] = {'host': h, 'ip': node['ip'],
                                            'ips': by_family(node.get('ips') or [node['ip']])}
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
        for h in self.hosts.values():
            if h is not router:
                add(h, quiet)
        for ci, cluster in enumerate(topo['clusters']):
            sw = self.net.addSwitch('%ss%d' % (p, ci), cls=IpBridge, dpid='%016x' % (ci + 1))
            switches.append(sw)
            # One entry per family (a dual-stack cluster has two); single-stack topologies carry no lists.
            segs = list(zip(cluster.get('underlayCIDRs') or [cluster['underlayCIDR']],
                            cluster.get('gateways') or [cluster['gateway']]))
            ri = self._link(router, sw).intf1.name
            add(router, self._up(ri), *[addr_cmd(gw, plen(cidr), ri) for cidr, gw in segs])
            for node in cluster['nodes']:
                h = self.nodes[node['name']]['host']
                ni_name = self._link(h, sw).intf1.name
                ips = node.get('ips') or [node['ip']]
                add(h, forward, self._up(ni_name), *[addr_cmd(a, plen(segs[i][0]), ni_name) for i, a in enumerate(ips)])
                for other in cluster['nodes']:
                    if other['name'] != node['name']:
                        via = by_family(other.get('ips') or [other['ip']])
                        for cidr in other.get('podCIDRs') or [other['podCIDR']]:
                            add(h, 'ip route add %s via %s' % (cidr, via[6 if is6(cidr) else 4]))
                for _, gw in segs:
                    add(h, 'ip %sroute add default via %s' % ('-6 ' if is6(gw) else '', gw))
                via = by_family(ips)
                for cidr in node.get('podCIDRs') or [node['podCIDR']]:
                    add(router, 'ip route add %s via %s' % (cidr, via[6 if is6(cidr) else 4]))
        xsw = self.net.addSwitch(p + 'sx', cls=IpBridge, dpid='%016x' % 0xffff)
        switches.append(xsw)
        xsegs = by_family(topo.get('externalCIDRs') or [topo['externalCIDR']])
        xgws = by_family(topo.get('externalGateways') or [topo['externalGateway']])
        xi = self._link(router, xsw).intf1.name
        add(router, self._up(xi), *[addr_cmd(xgws[f], plen(xsegs[f]), xi) for f in sorted(xsegs)])
        for ext in topo['externals']:
            h = self.hosts['ext:' + ext['name']]
            ei = self._link(h, xsw).intf1.name
            ips = ext.get('ips') or [ext['ip']]
            add(h, self._up(ei), *[addr_cmd(a, plen(xsegs[6 if is6(a) else 4]), ei) for a in ips])
            for a in ips:
                gw = xgws[6 if is6(a) else 4]
                add(h, 'ip %sroute add default via %s' % ('-6 ' if is6(gw) else '', gw))
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
        pod_cmds = ['sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0'
                    ' net.ipv6.conf.all.accept_ra=0', self._up(pi)]
        node_cmds = [self._up(ni)]
        for a in pod.get('ips') or [pod['ip']]:
            if is6(a):
                pod_cmds += [addr_cmd(a, 128, pi), 'ip -6 route add default via %s dev %s' % (POD_GW6, pi)]
                node_cmds += ['ip addr add %s/64 dev %s nodad' % (POD_GW6, ni),
                              'ip -6 route add %s/128 dev %s' % (a, ni)]
            else:
                node_ip4 = node['ips'].get(4, node['ip'])
                pod_cmds += ['ip addr add %s/32 dev %s' % (a, pi),
                             'ip route add %s dev %s scope link' % (node_ip4, pi),
                             'ip route add default via %s dev %s' % (node_ip4, pi)]
                node_cmds += ['ip addr add %s/32 dev %s' % (node_ip4, ni),
                              'ip route add %s/32 dev %s scope link' % (a, ni)]
        return [(h, pod_cmds), (node['host'], node_cmds)]

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
