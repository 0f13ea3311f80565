/**
 * The routes no policy decides: health and seal state, the OpenAPI document, and the ceremony steps
 * (audited as events of their own). The catalog test (test/engine/operations.test.ts) and the role
 * table (test/server/role-boundaries.test.ts) both hold every other route to a policy decision.
 */
export const UNAUTHENTICATED_ROUTES: readonly string[] = [
  'GET /openapi.json',
  'GET /v1/sys/health',
  'GET /v1/sys/seal-status',
  'POST /v1/sys/init',
  'POST /v1/sys/unseal',
  'POST /v1/sys/unseal/reset',
  'GET /v1/sys/rekey',
  'POST /v1/sys/rekey/update',
];
