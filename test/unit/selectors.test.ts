import { describe, expect, it } from 'vitest';
import { matchesSelector, selectorKey } from '../../src/policy/selectors.ts';

describe('matchesSelector', () => {
  const labels = { app: 'web', tier: 'front' };
  it('empty selector matches everything, including no labels', () => {
    expect(matchesSelector(labels, {})).toBe(true);
    expect(matchesSelector({}, {})).toBe(true);
    expect(matchesSelector({}, { matchLabels: {}, matchExpressions: [] })).toBe(true);
  });
  it('matchLabels needs every pair', () => {
    expect(matchesSelector(labels, { matchLabels: { app: 'web' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { app: 'web', tier: 'back' } })).toBe(false);
    expect(matchesSelector(labels, { matchLabels: { other: 'web' } })).toBe(false);
  });
  it('In / NotIn / Exists / DoesNotExist', () => {
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] }),
    ).toBe(true);
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }),
    ).toBe(false);
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'nope', operator: 'In', values: ['web'] }] }),
    ).toBe(false);
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }),
    ).toBe(false);
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }),
    ).toBe(true);
    // NotIn matches an object lacking the key, as in Kubernetes.
    expect(
      matchesSelector(labels, { matchExpressions: [{ key: 'nope', operator: 'NotIn', values: ['x'] }] }),
    ).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'Exists' }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'nope', operator: 'Exists' }] })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'nope', operator: 'DoesNotExist' }] })).toBe(
      true,
    );
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] })).toBe(
      false,
    );
  });
  it('matchLabels and matchExpressions are ANDed', () => {
    const sel = {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['back'] }],
    };
    expect(matchesSelector(labels, sel)).toBe(false);
    expect(matchesSelector({ app: 'web', tier: 'back' }, sel)).toBe(true);
  });
  it('does not see inherited object properties as labels', () => {
    expect(matchesSelector({}, { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] })).toBe(
      false,
    );
    expect(matchesSelector({}, { matchLabels: { toString: 'x' } })).toBe(false);
  });
  it('an empty value matches only an empty label value', () => {
    expect(matchesSelector({ a: '' }, { matchLabels: { a: '' } })).toBe(true);
    expect(matchesSelector({}, { matchLabels: { a: '' } })).toBe(false);
  });
});

describe('selectorKey', () => {
  it('is order-independent and distinguishes different selectors', () => {
    expect(selectorKey({ matchLabels: { a: '1', b: '2' } })).toBe(
      selectorKey({ matchLabels: { b: '2', a: '1' } }),
    );
    expect(selectorKey({ matchExpressions: [{ key: 'a', operator: 'In', values: ['2', '1'] }] })).toBe(
      selectorKey({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }),
    );
    expect(selectorKey({ matchLabels: { a: '1' } })).not.toBe(
      selectorKey({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1'] }] }),
    );
    expect(selectorKey({ matchLabels: { a: '1,b=2' } })).not.toBe(
      selectorKey({ matchLabels: { a: '1', b: '2' } }),
    );
  });
});
