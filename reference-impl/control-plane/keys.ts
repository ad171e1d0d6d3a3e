// Per-overlay authorization keys and the rotation state machine (pure: randomness is injected).
//
// A rotation is three pushes, each waited for until it is in force at every agent and SaP:
//   accept  – receivers accept old and new epoch, senders still write the old one;
//   switch  – senders write the new epoch (receivers still accept both, so a packet sent with either passes);
//   retire  – the old epoch is dropped once no sender writes it any more.
// At every instant each packet in flight carries an epoch every receiver accepts, so allowed flows lose no
// packet as long as the pushes are sequenced (the next starts only after the previous is in force everywhere).
import { randomBytes, randomInt } from 'node:crypto';
import type { KeyEntry } from '../sap/config.ts';
import type { KeyState } from './compile.ts';

export const KEY_BYTES = 32;

export type Random = (bytes: number) => Buffer;

export function newKey(epoch: number, random: Random = randomBytes): KeyEntry {
  return { epoch, key: random(KEY_BYTES).toString('hex') };
}

/** A fresh overlay: random 32-bit overlay id (so two runs or two overlays never share one), epoch 0. */
export function newOverlay(
  random: Random = randomBytes,
  overlayId: number = randomInt(1, 0xffffffff),
): KeyState {
  const k = newKey(0, random);
  return { overlayId, keys: [k], sendEpoch: 0 };
}

export type RotationPhase = 'accept' | 'switch' | 'retire';
export const ROTATION_PHASES: readonly RotationPhase[] = ['accept', 'switch', 'retire'];

/** The key state after `phase`, starting from a steady state (one key) for `accept`. */
export function rotationStep(s: KeyState, phase: RotationPhase, random: Random = randomBytes): KeyState {
  switch (phase) {
    case 'accept': {
      if (s.keys.length !== 1) throw new Error('rotation already in progress (more than one key accepted)');
      const next = newKey((s.sendEpoch + 1) % 256, random);
      return { ...s, keys: [s.keys[0]!, next] };
    }
    case 'switch': {
      if (s.keys.length !== 2) throw new Error('switch needs both epochs accepted');
      return { ...s, sendEpoch: s.keys[1]!.epoch };
    }
    case 'retire': {
      if (s.keys.length !== 2 || s.sendEpoch !== s.keys[1]!.epoch)
        throw new Error('retire needs every sender on the new epoch');
      return { ...s, keys: [s.keys[1]!] };
    }
  }
}

/**
 * Whether a packet written under `sender` is accepted under `receiver`: the invariant a rotation must keep for
 * every pair of states that can coexist while a push is in progress.
 */
export function accepts(receiver: KeyState, sender: KeyState): boolean {
  const sent = sender.keys.find((k) => k.epoch === sender.sendEpoch);
  return (
    sent !== undefined &&
    receiver.overlayId === sender.overlayId &&
    receiver.keys.some((k) => k.epoch === sent.epoch && k.key === sent.key)
  );
}
