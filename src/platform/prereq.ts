// Prerequisites of the Mininet platform, each with the one thing to install when it is missing.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { UsageError } from '../errors.ts';
import { PYTHON } from './mininet/client.ts';

export interface Prerequisite {
  what: string;
  /** Debian package that provides it (empty when the fix is not a package). */
  pkg: string;
  check: () => Promise<boolean>;
}

const run = (cmd: string, args: string[]): Promise<boolean> =>
  new Promise((res) => execFile(cmd, args, { timeout: 20_000 }, (err) => res(!err)));

async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      await access(`${dir}/${name}`, constants.X_OK);
      return true;
    } catch {
      // try the next directory
    }
  }
  return false;
}

export const MININET_PREREQUISITES: Prerequisite[] = [
  {
    what: 'mininet for /usr/bin/python3',
    pkg: 'mininet',
    check: () => run(PYTHON, ['-c', 'import mininet.net, mininet.node, mininet.link']),
  },
  { what: 'mnexec', pkg: 'mininet', check: () => onPath('mnexec') },
  { what: 'nft', pkg: 'nftables', check: () => onPath('nft') },
  { what: 'ping', pkg: 'iputils-ping', check: () => onPath('ping') },
  { what: 'ip', pkg: 'iproute2', check: () => onPath('ip') },
  { what: 'nsenter', pkg: 'util-linux', check: () => onPath('nsenter') },
];

/** Throws one UsageError naming everything missing and the apt-get line that fixes it. */
export async function checkPrerequisites(list: Prerequisite[] = MININET_PREREQUISITES): Promise<void> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const results = await Promise.all(list.map(async (p) => ({ p, ok: await p.check() })));
  const missing = results.filter((r) => !r.ok).map((r) => r.p);
  if (!isRoot && missing.length === 0)
    throw new UsageError(
      'the mininet platform needs root (network namespaces, links, nftables): run with sudo',
    );
  if (missing.length) {
    const pkgs = [...new Set(missing.map((p) => p.pkg).filter(Boolean))];
    const rootHint = isRoot ? '' : ' and run as root (sudo)';
    throw new UsageError(
      `missing ${missing.map((p) => p.what).join(', ')}: apt-get install ${pkgs.join(' ')}${rootHint}`,
    );
  }
}
