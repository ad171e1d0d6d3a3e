// Networks that are up in this process. While any is, SIGINT/SIGTERM tear them down before exiting, and a
// plain process exit (uncaught error, process.exit) removes them synchronously.
export interface LiveNetwork {
  down(): Promise<void>;
  emergencyCleanup(): void;
}

const live = new Set<LiveNetwork>();

function onExit(): void {
  for (const n of [...live]) n.emergencyCleanup();
}

function onSignal(signal: NodeJS.Signals): void {
  const code = signal === 'SIGINT' ? 130 : 143;
  process.stderr.write(`\ntestbed: ${signal}: tearing down ${live.size} network(s)\n`);
  const all = [...live].map((n) => n.down().catch(() => n.emergencyCleanup()));
  // A second signal or a stuck teardown still ends the process, cleaned up synchronously by onExit.
  setTimeout(() => process.exit(code), 30_000).unref();
  void Promise.all(all).finally(() => process.exit(code));
}

export function registerLive(n: LiveNetwork): void {
  if (live.size === 0) {
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  live.add(n);
}

export function unregisterLive(n: LiveNetwork): void {
  if (!live.delete(n) || live.size > 0) return;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
