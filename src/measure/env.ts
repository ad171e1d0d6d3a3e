// The environment fingerprint every run carries (REFERENCES.md: disclose kernel, CPU, cores, versions).
// Collected once per run; every probe is time-limited and a missing tool is recorded as absent, not fatal.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { EnvFingerprint } from '../results/schema.ts';
import { readTestKnobs } from './test-knobs.ts';
import { readIdleState } from './tuning.ts';

function run(cmd: string, args: string[], cwd?: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000, cwd }, (err, stdout, stderr) => {
      if (err && !stdout) resolve(null);
      else resolve((stdout || stderr).toString().trim());
    });
  });
}

function firstLine(s: string | null): string | null {
  return s === null ? null : (s.split('\n').find((l) => l.trim()) ?? '').trim() || null;
}

function packageVersion(name: string): string | null {
  // Some packages (vega-lite) do not export package.json, so read it from the project's node_modules.
  try {
    return (
      JSON.parse(
        readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8'),
      ) as { version: string }
    ).version;
  } catch {
    return null;
  }
}

export interface EnvContext {
  platform: string;
  modes: string[];
  scenarioHashes: Record<string, string>;
  repoDir?: string;
  /** Set on Kubernetes platforms (src/platform/kubernetes): CNI, its version, whether it enforced. */
  kubernetes?: EnvFingerprint['kubernetes'];
}

export async function collectEnv(ctx: EnvContext): Promise<EnvFingerprint> {
  const cwd = ctx.repoDir ?? process.cwd();
  const [kernel, iperf3, sockperf, nft, mininet, commit, dirty] = await Promise.all([
    run('uname', ['-r']),
    run('iperf3', ['--version']),
    run('sockperf', ['--version']),
    run('nft', ['--version']),
    run('dpkg-query', ['-W', '-f=${Version}', 'mininet']),
    run('git', ['rev-parse', 'HEAD'], cwd),
    run('git', ['status', '--porcelain', '--untracked-files=no'], cwd),
  ]);
  const cpus = os.cpus();
  return {
    kernel: kernel ?? os.release(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.version,
    tools: {
      iperf3: firstLine(iperf3),
      sockperf: firstLine(sockperf),
      nft: firstLine(nft),
      mininet: mininet || null,
      vegaLite: packageVersion('vega-lite'),
      autocannon: packageVersion('autocannon'),
    },
    commit: commit ?? null,
    dirty: dirty === null ? null : dirty.length > 0,
    scenarioHashes: ctx.scenarioHashes,
    platform: ctx.platform,
    modes: ctx.modes,
    hostname: os.hostname(),
    arch: process.arch,
    timestamp: new Date().toISOString(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    idle: readIdleState(),
    ...(ctx.kubernetes ? { kubernetes: ctx.kubernetes } : {}),
    // Injected slowdowns (src/measure/test-knobs.ts): recorded so they can never pass unnoticed.
    testKnobs: readTestKnobs(),
  };
}
