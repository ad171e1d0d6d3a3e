// Kubernetes label selectors (metav1.LabelSelector) and the API server's policyTypes defaulting.
import type { Labels, LabelSelector, NetworkPolicy, PolicyType } from './model.ts';

/**
 * True when `labels` satisfy every matchLabels entry and every matchExpressions requirement.
 * An empty selector `{}` matches everything; `NotIn` matches an object that lacks the key (as in Kubernetes).
 */
export function matchesSelector(labels: Labels, selector: LabelSelector): boolean {
  const ml = selector.matchLabels;
  if (ml) {
    for (const k in ml) if (!Object.hasOwn(labels, k) || labels[k] !== ml[k]) return false;
  }
  const exprs = selector.matchExpressions;
  if (exprs) {
    for (const e of exprs) {
      const has = Object.hasOwn(labels, e.key);
      switch (e.operator) {
        case 'In':
          if (!has || !(e.values ?? []).includes(labels[e.key]!)) return false;
          break;
        case 'NotIn':
          if (has && (e.values ?? []).includes(labels[e.key]!)) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
        default: {
          // The schema rejects other operators; an unknown one selects nothing rather than everything.
          return false;
        }
      }
    }
  }
  return true;
}

/** A canonical string for a selector, so equal selectors share one cached evaluation. */
export function selectorKey(selector: LabelSelector | undefined): string {
  if (!selector) return '';
  const ml = selector.matchLabels ?? {};
  const labels = Object.keys(ml)
    .sort()
    .map((k) => [k, ml[k]]);
  const exprs = (selector.matchExpressions ?? [])
    .map((e) => JSON.stringify([e.key, e.operator, [...(e.values ?? [])].sort()]))
    .sort();
  return JSON.stringify([labels, exprs]);
}

/**
 * policyTypes as the API server defaults them: an explicit non-empty list stands as given; otherwise Ingress,
 * plus Egress when the policy has a non-empty `egress` list (`egress: []` does not add Egress).
 */
export function normalizePolicyTypes(policy: NetworkPolicy): PolicyType[] {
  const given = policy.spec.policyTypes;
  if (given && given.length > 0) {
    const out: PolicyType[] = [];
    if (given.includes('Ingress')) out.push('Ingress');
    if (given.includes('Egress')) out.push('Egress');
    return out;
  }
  const egress = policy.spec.egress;
  return egress && egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}
