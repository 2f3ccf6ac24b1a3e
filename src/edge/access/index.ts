/**
 * Access: who may call what. It owns the API keys (their registry, secrets and routes), the
 * caller of each request (admin token, key or anonymous), scopes and collection binding per
 * route, AUTH_MODE, CORS of the admin routes, burst limits and exact daily quotas. Nothing here
 * knows a feature: the features ask `principalOf`, `allowCollection` and `chargeEncoder`.
 */
export { KeyRegistry } from './key-registry';
export {
  allowCollection,
  authorize,
  carriesImage,
  chargeEncoder,
  corsPolicy,
  principalOf,
  ROUTE_RULES,
  ruleOf,
} from './policy';
export { callerOf, type Principal } from './principal';
export { default as keysRoutes } from './route';
export { UsageCounter } from './usage-counter';
