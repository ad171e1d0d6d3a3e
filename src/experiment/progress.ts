// Progress bookkeeping shared by the runner and the sweeps: an ETA over units of work, errors as one line.

/** Estimated time left from the mean time per completed unit. */
export class Eta {
  private readonly t0 = Date.now();
  private done = 0;
  constructor(private readonly total: number) {}
  tick(): string {
    this.done++;
    const left = ((Date.now() - this.t0) / this.done) * (this.total - this.done);
    return `${this.done}/${this.total}, ETA ${Math.round(left / 1000)} s`;
  }
}

/** An error as one line for notes and progress: tools put the useful part (stderr) after the first line. */
export function brief(e: unknown): string {
  const text = (e as Error).message.replace(/\s*\n\s*/g, ' | ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
