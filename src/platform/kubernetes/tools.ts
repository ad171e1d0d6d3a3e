// Measurements inside pods: the harness starts its traffic workers as `node <repo>/src/traffic/X.mjs ARGS`
// (Mininet runs them in the host's namespace); on Kubernetes the same workers live in the tools image
// (docker/tools.Dockerfile) at /opt/testbed/traffic, so the argv is rewritten and run in the `tools` container.
// Long-running programs (iperf3 -s, the HTTP server) are started with `kubectl exec`, whose local process
// stands for the remote one (its stdout/stderr stream back; killing it closes the exec stream).
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOLS_CONTAINER, TOOLS_DIR } from './objects.ts';

const TRAFFIC_DIR = dirname(fileURLToPath(new URL('../../traffic/probe-server.mjs', import.meta.url)));

export interface ToolsCommand {
  container: string;
  argv: string[];
}

/** The harness's own program → where it runs in a pod; undefined when it is not one of the harness's workers. */
export function toolsCommand(argv: string[]): ToolsCommand | undefined {
  const [bin, script, ...rest] = argv;
  if (bin === process.execPath && script && dirname(script) === TRAFFIC_DIR)
    return { container: TOOLS_CONTAINER, argv: ['node', `${TOOLS_DIR}/${basename(script)}`, ...rest] };
  // iperf3, sockperf and the like are installed in the tools image.
  if (bin && !bin.includes('/') && ['iperf3', 'sockperf'].includes(bin))
    return { container: TOOLS_CONTAINER, argv };
  return undefined;
}

/** `kubectl exec` argv for a long-running program in a pod (stdin kept open, so the stream lives as long as it). */
export function kubectlExecArgv(o: {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
}): string[] {
  return [
    ...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : []),
    ...(o.context ? ['--context', o.context] : []),
    'exec',
    '-i',
    '-n',
    o.namespace,
    o.pod,
    '-c',
    o.container,
    '--',
    ...o.argv,
  ];
}
