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
from mininet.link import Link, TCLink  # noqa: E402
from mininet.net import Mininet  # noqa: E402
from mininet.node import Host  # noqa: E402
from mininet.node import Switch  # noqa: E402

setLogLevel('error')


def reply(obj):
    data = (json.dumps(obj) + '\n').encode()
    while data:
        data = data[os.write(PROTO_FD, data):]


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
        return self.net.addLink(a, b, cls=Link)

    def _up(self, intf):
        mtu = ' mtu %d' % self.mtu if self.mtu else ''
        return 'ip link set dev %s%s up' % (intf, mtu)

    def _run(self, node, cmds):
        out = node.cmd(' ; '.join(cmds) + ' ; echo __rc=$?')
        if '__rc=0' not in out:
            raise RuntimeError('%s: %s failed: %s' % (node.name, cmds, out.strip()))

    def _new_host(self, mn_name):
        h = self.net.addHost(mn_name, cls=Host, ip=None)
        h.cmd('ip link set lo up')
        return h

    # --- operations ----------------------------------------------------------------------------------
    def build(self, req):
        self.prefix = req['prefix']
        topo = req['topology']
        links = topo.get('links') or {}
        if links.get('bandwidthMbit'):
            self.link_params = {'bw': links['bandwidthMbit']}
        self.mtu = links.get('mtu')
        self.net = Mininet(topo=None, build=False, controller=None, switch=IpBridge, link=Link,
                           autoSetMacs=False, waitConnected=False)
        p = self.prefix
        router = self._new_host(p + 'r')
        self.hosts['router'] = router
        router_cmds = ['sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0']
        switches = []
        for ci, cluster in enumerate(topo['clusters']):
            sw = self.net.addSwitch('%ss%d' % (p, ci), cls=IpBridge, dpid='%016x' % (ci + 1))
            switches.append(sw)
            plen = cluster['underlayCIDR'].split('/')[1]
            link = self._link(router, sw)
            ri = link.intf1.name
            router_cmds += [self._up(ri), 'ip addr add %s/%s dev %s' % (cluster['gateway'], plen, ri)]
            for ni, node in enumerate(cluster['nodes']):
                h = self._new_host('%sn%d' % (p, len(self.nodes)))
                self.hosts['node:' + node['name']] = h
                self.nodes[node['name']] = {'host': h, 'ip': node['ip']}
                nl = self._link(h, sw)
                ni_name = nl.intf1.name
                cmds = ['sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0',
                        self._up(ni_name), 'ip addr add %s/%s dev %s' % (node['ip'], plen, ni_name)]
                for other in cluster['nodes']:
                    if other['name'] != node['name']:
                        cmds.append('ip route add %s via %s' % (other['podCIDR'], other['ip']))
                cmds.append('ip route add default via %s' % cluster['gateway'])
                self._run(h, cmds)
                router_cmds.append('ip route add %s via %s' % (node['podCIDR'], node['ip']))
        xsw = self.net.addSwitch(p + 'sx', cls=IpBridge, dpid='%016x' % 0xffff)
        switches.append(xsw)
        xplen = topo['externalCIDR'].split('/')[1]
        xl = self._link(router, xsw)
        router_cmds += [self._up(xl.intf1.name), 'ip addr add %s/%s dev %s' % (topo['externalGateway'], xplen, xl.intf1.name)]
        self._run(router, router_cmds)
        for k, ext in enumerate(topo['externals']):
            h = self._new_host('%se%d' % (p, k))
            self.hosts['ext:' + ext['name']] = h
            el = self._link(h, xsw)
            self._run(h, [self._up(el.intf1.name), 'ip addr add %s/%s dev %s' % (ext['ip'], xplen, el.intf1.name),
                          'ip route add default via %s' % topo['externalGateway']])
        for sw in switches:
            sw.start([])
            if self.mtu:
                sw.cmd('ip link set dev %s mtu %d' % (sw.name, self.mtu))
            for intf in sw.intfList():
                if intf.name != 'lo':
                    sw.cmd(self._up(intf.name))
        for pod in req.get('pods', []):
            self.add_host(pod)
        return self.pids()

    def add_host(self, pod):
        """A pod: a host with address/32 and a veth to its node; the node answers ARP for its own underlay
        address on that veth and routes the pod's /32 into it (Calico-style routed pod, no bridge, no NAT)."""
        name = pod['name']
        if name in self.hosts:
            raise RuntimeError('host %s exists' % name)
        node = self.nodes.get(pod['node'])
        if node is None:
            raise RuntimeError('unknown node %s' % pod['node'])
        h = self._new_host('%sp%d' % (self.prefix, self.pod_seq))
        self.pod_seq += 1
        link = self._link(h, node['host'])
        pi, ni = link.intf1.name, link.intf2.name
        self._run(h, [self._up(pi), 'ip addr add %s/32 dev %s' % (pod['ip'], pi),
                      'ip route add %s dev %s scope link' % (node['ip'], pi),
                      'ip route add default via %s dev %s' % (node['ip'], pi)])
        self._run(node['host'], [self._up(ni), 'ip addr add %s/32 dev %s' % (node['ip'], ni),
                                 'ip route add %s/32 dev %s scope link' % (pod['ip'], ni)])
        self.hosts[name] = h
        self.pod_links[name] = link
        return {'name': name, 'pid': h.pid}

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
        if self.net is not None:
            net, self.net = self.net, None
            net.stop()


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
