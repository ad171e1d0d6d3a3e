// Istio AuthorizationPolicy (L7) model and engine, and the L3 × L7 combined verdict. Pure, no I/O.
// The types in ./model.ts are the contract with the sidecar (reference-impl/mesh/) and the +l7 enforcers.
export * from './model.ts';
export {
  evaluateAuthz,
  applicablePolicies,
  policyApplies,
  policyAction,
  policyKey,
  ruleMatches,
  firstMatchingRule,
  ruleUsesHttpFields,
  isHttpOnlyKey,
  malformedRequest,
  type AuthzOptions,
} from './engine.ts';
export {
  normalizePath,
  matchString,
  ipMatches,
  headerValue,
  removeDotSegments,
  type NormalizedPath,
} from './match.ts';
export {
  combinedVerdict,
  requestFor,
  buildRequest,
  sourceOf,
  layersOf,
  hasSidecar,
  type RequestOptions,
} from './combined.ts';
export { l7TruthTable, needsL7, type L7ProbeSelection, type L7TableOptions } from './table.ts';
