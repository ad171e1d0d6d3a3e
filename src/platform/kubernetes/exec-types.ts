// Exec results shared by the API client and the probe logic (kept apart so the probe and enforcer modules load
// without pulling in the client library).
export interface ExecOutcome {
  code: number;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

/** Thrown when a command could not be run at all (no status from the kubelet, WebSocket refused, …). */
export class ExecError extends Error {}
