// Entry point: only wires commands together. Each command lives in src/commands/<name>.ts and exports
// `run(argv): Promise<number>` (the exit code), so layers stay separate and this file stays small.
import { UsageError, InputError } from './errors.ts';

const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }
> = {
  verify: {
    summary: 'check scenarios against the semantics engine only (no root)',
    load: () => import('./commands/verify.ts'),
  },
  run: {
    summary: 'run scenarios on a platform under enforcement modes and compare with the engine',
    load: () => import('./commands/run.ts'),
  },
  main: {
    summary: 'the main job: the default paper suite on Mininet, ending in a report',
    load: () => import('./commands/main.ts'),
  },
  report: {
    summary: 'render a report from a saved run directory',
    load: () => import('./commands/report.ts'),
  },
  compare: { summary: 'compare two runs and flag regressions', load: () => import('./commands/compare.ts') },
  manifests: {
    summary: 'write every Kubernetes object a run would create, as YAML (one file per kind)',
    load: () => import('./commands/manifests.ts'),
  },
  cleanup: {
    summary: 'remove leftovers (namespaces, links, processes) of crashed runs',
    load: () => import('./commands/cleanup.ts'),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `usage: testbed <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'testbed <command> --help' for the options of one command.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`testbed: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof InputError || err instanceof UsageError) {
      console.error(`testbed: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
