// --tune changes a machine-wide setting, so it must put it back: set, read back, restore, read back.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HALT_POLL_PATH, readIdleState, tuneIdle } from '../../src/measure/tuning.ts';

const read = () => readFileSync(HALT_POLL_PATH, 'utf8').trim();

describe('idle tuning', () => {
  // Machines without the guest haltpoll driver have nothing to tune; tuneIdle must say so instead.
  it.runIf(!existsSync(HALT_POLL_PATH))('refuses with a reason where there is no haltpoll driver', () => {
    expect(() => tuneIdle()).toThrow(/does not exist/);
  });

  it.runIf(existsSync(HALT_POLL_PATH))('sets the halt-poll window, records it, and restores it', () => {
    const before = read();
    const t = tuneIdle(123_456);
    try {
      expect(t.before).toBe(Number(before));
      expect(read()).toBe('123456');
      expect(readIdleState()).toMatchObject({ haltPollNs: 123_456, tuned: true });
    } finally {
      t.untune();
    }
    expect(read()).toBe(before);
    expect(readIdleState().tuned).toBe(false);
  });
});
