// The kernel data path leaves nothing behind: after the enforcer's teardown no BPF filter or clsact qdisc is
// left in any host, and no pin directory of the run under /sys/fs/bpf, also when a process was SIGKILLed
// (it cannot unpin itself; the run's teardown removes its pin directory). Root; real Mininet namespaces.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/load.ts';
import { up } from './overlay-helpers.ts';

const sc = parseScenario(
  'cleanup.yaml',
  `
name: cleanup
topology:
  clusters: [{ name: c1, nodes: [{ name: n1 }, { name: n2 }] }]
namespaces: [{ name: app }]
pods:
  - { namespace: app, name: a, node: n1 }
  - { namespace: app, name: b, node: n2 }
`,
);

describe('overlay-ebpf cleanup', () => {
  it('detaches every program, removes qdiscs and pins, also after a SIGKILL', async () => {
    const lab = await up(sc, 'ebpf');
    try {
      const tcState = async (host: string) => {
        const links = JSON.parse((await lab.net.exec(host, ['ip', '-j', 'link'])).stdout) as {
          ifname: string;
        }[];
        let out = '';
        for (const l of links.filter((x) => x.ifname !== 'lo')) {
          out += (await lab.net.exec(host, ['tc', 'qdisc', 'show', 'dev', l.ifname])).stdout;
          out += (await lab.net.exec(host, ['tc', 'filter', 'show', 'dev', l.ifname, 'ingress'])).stdout;
        }
        return out;
      };
      const dir = lab.ov.procs.bpfDir;
      expect(fs.readdirSync(dir).length).toBeGreaterThan(0);
      expect(await tcState('node:n1')).toContain('sap_ingress');
      expect(await tcState('app/a')).toContain('clsact');
      // A killed SaP keeps its pins (nobody unpinned them) until the run's teardown.
      await lab.ov.procs.kill('node:n2');
      await lab.ov.teardown();
      expect(fs.existsSync(dir)).toBe(false);
      for (const h of ['node:n1', 'app/a', 'app/b', 'router']) {
        const st = await tcState(h);
        expect(st, h).not.toContain('clsact');
        expect(st, h).not.toContain('bpf');
      }
    } finally {
      await lab.net.down();
    }
  });
});
