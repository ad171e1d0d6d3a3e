// The order in which a scenario's modes run in each repetition. A fixed order makes every mode follow the same
// predecessor in every repetition, so whatever one mode's teardown leaves behind always lands on the same next
// mode, and that cannot be told apart from the mode's own cost (overlay-ebpf always ran right after the
// user-space overlay; a re-check found run-to-run spread, not carry-over, but the confound was there). The rows of a
// Williams design (a balanced Latin square, as used for carry-over in crossover trials) put every mode in
// every position and after every other mode equally often over n repetitions (2n for odd n).

/** Positions 0..n-1 in the order of repetition `rep`. */
export function williamsRow(n: number, rep: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`williamsRow: n must be a whole number ≥ 0, got ${n}`);
  if (!Number.isInteger(rep) || rep < 0)
    throw new Error(`williamsRow: rep must be a whole number ≥ 0, got ${rep}`);
  // First row 0, 1, n-1, 2, n-2, …; row r adds r (mod n).
  const first: number[] = [];
  for (let i = 0, lo = 0, hi = n - 1; i < n; i++) first.push(i === 0 ? 0 : i % 2 ? ++lo : hi--);
  const row = first.map((x) => (x + rep) % n);
  // For odd n the first n rows balance positions but not predecessors; the mirrored second n rows complete it.
  return n % 2 && Math.floor(rep / n) % 2 ? row.reverse() : row;
}

/** The modes of one repetition, in the order they run. */
export function modeOrder<T>(modes: readonly T[], rep: number): T[] {
  return williamsRow(modes.length, rep).map((i) => modes[i]!);
}
