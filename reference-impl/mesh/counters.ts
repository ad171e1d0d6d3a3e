// Monotonic counters by name, as the SaP and agents keep them (../CONTRACT.md, GET /status).
export class Counters {
  private readonly c: Record<string, number> = {};
  inc(name: string, by = 1): void {
    this.c[name] = (this.c[name] ?? 0) + by;
  }
  snapshot(): Record<string, number> {
    return { ...this.c };
  }
}
