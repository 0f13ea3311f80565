/**
 * GET /openapi.json: an OpenAPI 3.1 document built from the zod schemas the routes use (one source
 * of truth): request bodies from server/schemas.ts (the objects routes parse with), responses from
 * server/responses.ts (the server tests check every response they see against them), query and path
 * parameters from server/schemas.ts.
 *
 * Each route is one {@link ROUTES} entry; its error responses follow from what it is (a body can be
 * malformed, too large or not JSON; an authenticated route can be unauthenticated, denied, parked
 * for approval, or refused while sealed) plus the ones it lists. Named schemas become
 * `#/components/schemas/<name>`; a route's unnamed body or response is named after its operationId.
 * A test checks that every route the routers register is described here, and nothing else, and
 * another lints the document with Redocly (redocly.yaml).
 * @module
 */
import { z } from 'zod';
import { VERSION } from '../engine/version.js';
import { AUDIT_RAW_PAGE_MAX } from '../engine/audit/log/read.js';
import { AUDIT_RECORDS_MEDIA_TYPE } from '../engine/audit/verifier/records-page.js';
import * as res from './responses.js';
import {
  ApprovalDenyBody,
  ApprovalIdParam,
  ApprovalListQuery,
  AuditExportBody,
  AuditHashBody,
  AuditRecordsQuery,
  CeremonyBody,
  ConsistencyProofQuery,
  DatakeyBody,
  DecapsulateBody,
  DecryptItem,
  EmptyBody,
  EncryptItem,
  ExecuteBody,
  HmacItem,
  HolderPublicKeyFile,
  InclusionProofQuery,
  KeyConfigBody,
  KeyCreateBody,
  KeyExportBody,
  KeyImportBody,
  KeyListQuery,
  KeyNameParam,
  KeyTypeName,
  PolicyBindingBody,
  PolicyEvaluateBody,
  PolicyHashParam,
  PolicyPushBody,
  PublicKeyQuery,
  RandomBody,
  RewrapBody,
  SignItem,
  SubmissionBody,
  TokenCreateBody,
  TokenIdParam,
  VerifyItem,
  WrappingAlgorithmSchema,
  WrappingKeyQuery,
  batchOf,
} from './schemas.js';

export const TAGS = [
  { name: 'sys', description: 'Health, seal status, the unseal and rekey ceremonies, sealing and root rotation' },
  { name: 'auth', description: 'Tokens and the caller' },
  { name: 'policies', description: 'WebAssembly policies: push, bind, evaluate' },
  { name: 'keys', description: 'Named, versioned keys and their operations; BYOK import; random bytes' },
  { name: 'audit', description: 'The Merkle audit log: records, checkpoints, proofs, attestation bundles' },
  { name: 'approvals', description: 'Dual control: parked requests, their approval and one execution' },
  { name: 'meta', description: 'This document, and the Prometheus metrics' },
] as const;
export type Tag = (typeof TAGS)[number]['name'];

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  /** Koa style: /v1/policies/:hash/activate */
  path: string;
  /** Stable camelCase, unique: generated clients name their methods after it. Never rename one. */
  operationId: string;
  tag: Tag;
  summary: string;
  /** Needs a bearer token (and the policies' allow; a policy may park it for approval: 202). */
  auth: boolean;
  /**
   * Whether a policy's require_approval parks it with 202 ApprovalPending (default: `auth`). Set false
   * for routes whose clients can't follow a 202 (Vault-compatible ones answer an error instead).
   */
  parkable?: boolean;
  /**
   * The error body when not the shared `Error` (e.g. Vault's `{"errors": [...]}`); name it in
   * server/responses.ts RESPONSE_COMPONENTS so its routes share one component.
   */
  errorBody?: z.ZodType;
  body?: z.ZodType;
  /** Query parameters (each field one parameter). */
  query?: z.ZodObject;
  /** Path parameters by name; defaults from {@link PATH_PARAMS}. */
  params?: Record<string, z.ZodType>;
  /** The success body. */
  response: z.ZodType;
  /** The success body's media type when not JSON (a backup's NDJSON stream, the Prometheus text): documented as a string. */
  mediaType?: string;
  /**
   * Other media types the success body comes in, asked for by `Accept` (JSON stays the default):
   * each documented as a binary string with what it is.
   */
  alternates?: Readonly<Record<string, string>>;
  /** Success status (default 200). */
  status?: number;
  /** Other non-error answers and their bodies (health's 501/503, an execute's 201). */
  also?: Readonly<Record<number, z.ZodType>>;
  /** Error statuses this route can give besides the ones implied by body/query/params/auth. */
  errors?: readonly number[];
}

/** Path parameter schemas by name, when a route doesn't give its own. */
const PATH_PARAMS: Readonly<Record<string, z.ZodType>> = { name: KeyNameParam, hash: PolicyHashParam };

// Error statuses that keyed operations, approvals and ceremonies can give, beyond the implied ones.
const KEYED = [404, 409] as const; // KEY_NOT_FOUND, KEY_PENDING_DELETION
const CEREMONY = [409, 429] as const; // nonce/state conflicts, the per-client rate limit
const APPROVAL = [404, 409, 410] as const; // not found, not pending / duplicate, expired

export const ROUTES: readonly RouteDoc[] = [
  // sys
  {
    method: 'get',
    path: '/v1/sys/health',
    operationId: 'sysHealth',
    tag: 'sys',
    summary: 'Health: 200 unsealed and storage answering, 503 sealed or storage unavailable, 501 not initialized',
    auth: false,
    response: res.Health,
    also: { 501: res.Health, 503: res.Health },
  },
  {
    method: 'get',
    path: '/v1/sys/seal-status',
    operationId: 'sysSealStatus',
    tag: 'sys',
    summary: 'Seal status with the unseal session nonce and public key, and shard commitments',
    auth: false,
    response: res.SealStatus,
  },
  {
    method: 'post',
    path: '/v1/sys/init',
    operationId: 'sysInit',
    tag: 'sys',
    summary: 'Initialize: split the unseal key to holders (sealed shards) and return the root token once',
    auth: false,
    body: CeremonyBody,
    response: res.InitResult,
    errors: [...CEREMONY, 503],
  },
  {
    method: 'post',
    path: '/v1/sys/unseal',
    operationId: 'sysUnseal',
    tag: 'sys',
    summary: "Submit a holder's share, sealed to the unseal session key",
    auth: false,
    body: SubmissionBody,
    response: res.UnsealProgress,
    errors: [...CEREMONY, 503],
  },
  {
    method: 'post',
    path: '/v1/sys/unseal/reset',
    operationId: 'sysUnsealReset',
    tag: 'sys',
    summary: 'Discard unseal progress and start a new session',
    auth: false,
    body: EmptyBody,
    response: res.SealStatus,
    errors: [...CEREMONY, 503],
  },
  {
    method: 'post',
    path: '/v1/sys/seal',
    operationId: 'sysSeal',
    tag: 'sys',
    summary: 'Seal: zeroize keys',
    auth: true,
    body: EmptyBody,
    response: res.SealStatus,
  },
  {
    method: 'post',
    path: '/v1/sys/rotate',
    operationId: 'sysRotate',
    tag: 'sys',
    summary: 'Root rotation: a new keyring term',
    auth: true,
    body: EmptyBody,
    response: res.RootRotation,
  },
  {
    method: 'post',
    path: '/v1/sys/backup',
    operationId: 'sysBackup',
    tag: 'sys',
    summary:
      'A consistent snapshot of the whole store (docs/backup.md), streamed as NDJSON; gzipped when Accept names application/gzip',
    auth: true,
    body: EmptyBody,
    response: z.string(),
    mediaType: 'application/x-ndjson',
    alternates: {
      'application/gzip':
        'The same backup file gzipped (two members: header and seal, then the body), sent only when Accept names application/gzip, as the keyward CLI and @keyward/client do; without it the answer is the plain NDJSON releases before gzip read',
    },
  },
  {
    method: 'get',
    path: '/v1/sys/rekey',
    operationId: 'sysRekeyStatus',
    tag: 'sys',
    summary: 'Rekey status with its session nonce and public key',
    auth: false,
    response: res.RekeyStatus,
  },
  {
    method: 'post',
    path: '/v1/sys/rekey/init',
    operationId: 'sysRekeyInit',
    tag: 'sys',
    summary: 'Start a rekey to new holders and threshold',
    auth: true,
    body: CeremonyBody,
    response: res.RekeyStatus,
    errors: [409],
  },
  {
    method: 'post',
    path: '/v1/sys/rekey/update',
    operationId: 'sysRekeyUpdate',
    tag: 'sys',
    summary: 'Submit a current share to the rekey; the last one receives the new shards',
    auth: false,
    body: SubmissionBody,
    response: res.RekeyUpdate,
    errors: [...CEREMONY, 503],
  },
  {
    method: 'post',
    path: '/v1/sys/rekey/cancel',
    operationId: 'sysRekeyCancel',
    tag: 'sys',
    summary: 'Cancel the rekey in progress',
    auth: true,
    body: EmptyBody,
    response: res.RekeyStatus,
    errors: [409],
  },
  // auth
  {
    method: 'get',
    path: '/v1/auth/whoami',
    operationId: 'authWhoami',
    tag: 'auth',
    summary: 'The principal and roles of the bearer token',
    auth: true,
    response: res.Whoami,
  },
  {
    method: 'post',
    path: '/v1/auth/tokens',
    operationId: 'authTokenCreate',
    tag: 'auth',
    summary: 'Create a token (shown once, stored as a hash); ttl defaults to 24h',
    auth: true,
    body: TokenCreateBody,
    response: res.TokenCreated,
    status: 201,
  },
  {
    method: 'delete',
    path: '/v1/auth/tokens/:id',
    operationId: 'authTokenRevoke',
    tag: 'auth',
    summary: 'Revoke a token by id',
    auth: true,
    params: { id: TokenIdParam },
    response: res.TokenRevoked,
    errors: [404],
  },
  // policies
  {
    method: 'post',
    path: '/v1/policies',
    operationId: 'policiesPush',
    tag: 'policies',
    summary: 'Push a compiled policy (validated, stored by SHA-256)',
    auth: true,
    body: PolicyPushBody,
    response: res.PolicyPushed,
    status: 201,
  },
  {
    method: 'get',
    path: '/v1/policies',
    operationId: 'policiesList',
    tag: 'policies',
    summary: 'List policies and their bindings',
    auth: true,
    response: res.PolicyList,
  },
  {
    method: 'post',
    path: '/v1/policies/:hash/activate',
    operationId: 'policiesActivate',
    tag: 'policies',
    summary: 'Activate a policy globally or on a key',
    auth: true,
    body: PolicyBindingBody,
    response: res.PolicyActivated,
    errors: [404],
  },
  {
    method: 'post',
    path: '/v1/policies/:hash/deactivate',
    operationId: 'policiesDeactivate',
    tag: 'policies',
    summary: 'Remove a policy binding (never the last global one)',
    auth: true,
    body: PolicyBindingBody,
    response: res.PolicyDeactivated,
    errors: [404, 409],
  },
  {
    method: 'post',
    path: '/v1/policies/evaluate',
    operationId: 'policiesEvaluate',
    tag: 'policies',
    summary: 'Dry-run a stored policy (hash) or the active set (no hash) on a PolicyInput',
    auth: true,
    body: PolicyEvaluateBody,
    response: z.union([res.PolicyEvaluation, res.ComposedDecision]),
    errors: [404],
  },
  // keys
  {
    method: 'post',
    path: '/v1/keys',
    operationId: 'keysCreate',
    tag: 'keys',
    summary: 'Create a key (generated, or verify/encapsulate-only from a public key)',
    auth: true,
    body: KeyCreateBody,
    response: res.KeyInfo,
    status: 201,
    errors: [409],
  },
  {
    method: 'get',
    path: '/v1/keys',
    operationId: 'keysList',
    tag: 'keys',
    summary: 'List keys by name, a page at a time',
    auth: true,
    query: KeyListQuery,
    response: res.KeyList,
  },
  {
    method: 'get',
    path: '/v1/keys/:name',
    operationId: 'keysGet',
    tag: 'keys',
    summary: 'Key metadata, versions and public keys',
    auth: true,
    response: res.KeyInfo,
    errors: [404],
  },
  {
    method: 'post',
    path: '/v1/keys/:name/rotate',
    operationId: 'keysRotate',
    tag: 'keys',
    summary: 'Add a key version',
    auth: true,
    body: EmptyBody,
    response: res.KeyInfo,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/config',
    operationId: 'keysConfig',
    tag: 'keys',
    summary: 'Set minDecryptionVersion / deletionAllowed / requireLowS (ECDSA)',
    auth: true,
    body: KeyConfigBody,
    response: res.KeyInfo,
    errors: KEYED,
  },
  {
    method: 'delete',
    path: '/v1/keys/:name',
    operationId: 'keysDelete',
    tag: 'keys',
    summary: 'Schedule deletion after the retention window',
    auth: true,
    response: res.KeyInfo,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/encrypt',
    operationId: 'keysEncrypt',
    tag: 'keys',
    summary: 'Encrypt (one item or a batch)',
    auth: true,
    body: batchOf(EncryptItem),
    response: res.oneOrBatch(res.EncryptResult),
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/decrypt',
    operationId: 'keysDecrypt',
    tag: 'keys',
    summary:
      'Decrypt (one item or a batch): a kw:v<N>: ciphertext, or its raw base64 body for keyVersion (default latest); RSA keys take RSA-OAEP-SHA-256 ciphertexts (aad = OAEP label); a value in neither form is CIPHERTEXT_FORMAT, every decryption failure DECRYPTION_FAILED',
    auth: true,
    body: batchOf(DecryptItem),
    response: res.oneOrBatch(res.DecryptResult),
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/rewrap',
    operationId: 'keysRewrap',
    tag: 'keys',
    summary:
      'Re-encrypt under the latest version: a kw:v<N>: ciphertext, or its raw base64 body for keyVersion (default latest)',
    auth: true,
    body: RewrapBody,
    response: res.EncryptResult,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/datakey',
    operationId: 'keysDatakey',
    tag: 'keys',
    summary: 'A random data key and its ciphertext',
    auth: true,
    body: DatakeyBody,
    response: res.DatakeyResult,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/sign',
    operationId: 'keysSign',
    tag: 'keys',
    summary: 'Sign (one item or a batch)',
    auth: true,
    body: batchOf(SignItem),
    response: res.oneOrBatch(res.SignResult),
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/verify',
    operationId: 'keysVerify',
    tag: 'keys',
    summary:
      'Verify (one item or a batch): a kw:v<N>: signature, or the raw base64 signature for keyVersion (default latest); a bad signature is {valid:false}, a value in neither form SIGNATURE_FORMAT; ECDSA accepts high and low S unless the key has requireLowS',
    auth: true,
    body: batchOf(VerifyItem),
    response: res.oneOrBatch(res.VerifyResult),
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/hmac',
    operationId: 'keysHmac',
    tag: 'keys',
    summary: 'HMAC (one item or a batch)',
    auth: true,
    body: batchOf(HmacItem),
    response: res.oneOrBatch(res.HmacResult),
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/encapsulate',
    operationId: 'keysEncapsulate',
    tag: 'keys',
    summary: 'KEM encapsulation to the key',
    auth: true,
    body: EmptyBody,
    response: res.EncapsulateResult,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/decapsulate',
    operationId: 'keysDecapsulate',
    tag: 'keys',
    summary: 'KEM decapsulation',
    auth: true,
    body: DecapsulateBody,
    response: res.DecapsulateResult,
    errors: KEYED,
  },
  {
    method: 'get',
    path: '/v1/keys/:name/public',
    operationId: 'keysPublicKey',
    tag: 'keys',
    summary: 'Public key of the latest version',
    auth: true,
    query: PublicKeyQuery,
    response: res.PublicKey,
    errors: KEYED,
  },
  {
    method: 'get',
    path: '/v1/sys/wrapping-key',
    operationId: 'keysWrappingKey',
    tag: 'keys',
    summary: 'The server-wide BYOK wrapping public key, generated on first use',
    auth: true,
    query: WrappingKeyQuery,
    response: res.WrappingKey,
  },
  {
    method: 'post',
    path: '/v1/keys/:name/import',
    operationId: 'keysImport',
    tag: 'keys',
    summary: 'BYOK: create a key from private material wrapped under the wrapping key (never in the clear)',
    auth: true,
    body: KeyImportBody,
    response: res.KeyInfo,
    status: 201,
    errors: [409],
  },
  {
    method: 'post',
    path: '/v1/keys/:name/export',
    operationId: 'keysExport',
    tag: 'keys',
    summary:
      "Export one version (keyVersion, default the latest) of an exportable key, wrapped to the caller's public wrappingKey exactly as import takes it (never in the clear); dual control: parked (202) for two operators' approval by the default policy, refused at once (4xx) when it could not run (not exportable, verify-only, bad wrapping key, no such version)",
    auth: true,
    body: KeyExportBody,
    response: res.KeyExport,
    errors: KEYED,
  },
  {
    method: 'post',
    path: '/v1/random',
    operationId: 'random',
    tag: 'keys',
    summary: 'Random bytes',
    auth: true,
    body: RandomBody,
    response: res.RandomResult,
  },
  // audit
  {
    method: 'get',
    path: '/v1/audit/keys',
    operationId: 'auditKeys',
    tag: 'audit',
    summary: "The audit log's origin and C2SP verifier keys (Ed25519, ML-DSA-44)",
    auth: true,
    response: res.AuditKeys,
  },
  {
    method: 'get',
    path: '/v1/audit/checkpoint',
    operationId: 'auditCheckpoint',
    tag: 'audit',
    summary: 'The latest signed checkpoint (C2SP signed note)',
    auth: true,
    response: res.AuditCheckpoint,
  },
  {
    method: 'get',
    path: '/v1/audit/records',
    operationId: 'auditRecords',
    tag: 'audit',
    summary: 'Audit records (exact leaves) in [from, to), a page at a time',
    auth: true,
    query: AuditRecordsQuery,
    response: res.AuditRecords,
    alternates: {
      [AUDIT_RECORDS_MEDIA_TYPE]: `The records as stored, up to ${AUDIT_RAW_PAGE_MAX} a page: a first line of JSON {size, from, count, next}, then count × 32 bytes of chain values, then each leaf's bytes followed by a line feed`,
    },
  },
  {
    method: 'get',
    path: '/v1/audit/proofs/inclusion',
    operationId: 'auditInclusionProof',
    tag: 'audit',
    summary: 'RFC 9162 inclusion proof against a signed checkpoint',
    auth: true,
    query: InclusionProofQuery,
    response: res.InclusionProof,
  },
  {
    method: 'get',
    path: '/v1/audit/proofs/consistency',
    operationId: 'auditConsistencyProof',
    tag: 'audit',
    summary: 'RFC 9162 consistency proof between two signed checkpoints',
    auth: true,
    query: ConsistencyProofQuery,
    response: res.ConsistencyProof,
  },
  {
    method: 'post',
    path: '/v1/audit/hash',
    operationId: 'auditHash',
    tag: 'audit',
    summary: 'The audit HMAC of a known value, to find it in records',
    auth: true,
    body: AuditHashBody,
    response: res.AuditHash,
  },
  {
    method: 'post',
    path: '/v1/audit/export',
    operationId: 'auditExport',
    tag: 'audit',
    summary: 'An attestation bundle over a fresh checkpoint (docs/audit-bundle.md)',
    auth: true,
    body: AuditExportBody,
    response: res.AttestationBundle,
  },
  // approvals
  {
    method: 'get',
    path: '/v1/approvals',
    operationId: 'approvalsList',
    tag: 'approvals',
    summary: 'Approvals the caller requested or may approve',
    auth: true,
    query: ApprovalListQuery,
    response: res.ApprovalList,
  },
  {
    method: 'get',
    path: '/v1/approvals/:id',
    operationId: 'approvalsGet',
    tag: 'approvals',
    summary: 'One approval: request, requirement, approvers, state',
    auth: true,
    params: { id: ApprovalIdParam },
    response: res.Approval,
    errors: [404],
  },
  {
    method: 'post',
    path: '/v1/approvals/:id/approve',
    operationId: 'approvalsApprove',
    tag: 'approvals',
    summary: 'Approve (not the requester; must hold the named role; counts once)',
    auth: true,
    params: { id: ApprovalIdParam },
    body: EmptyBody,
    response: res.Approval,
    errors: APPROVAL,
  },
  {
    method: 'post',
    path: '/v1/approvals/:id/deny',
    operationId: 'approvalsDeny',
    tag: 'approvals',
    summary: "Deny: any approver's denial ends the request",
    auth: true,
    params: { id: ApprovalIdParam },
    body: ApprovalDenyBody,
    response: res.Approval,
    errors: APPROVAL,
  },
  {
    method: 'post',
    path: '/v1/approvals/:id/execute',
    operationId: 'approvalsExecute',
    tag: 'approvals',
    summary:
      "The requester runs the approved request once, sending its original body; the answer (status and body) is the parked operation's",
    auth: true,
    params: { id: ApprovalIdParam },
    body: ExecuteBody,
    response: res.ExecutedResult,
    also: { 201: res.ExecutedResult },
    errors: APPROVAL,
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'meta',
    summary:
      'Prometheus metrics, text exposition format 0.0.4 (docs/operations.md, "Metrics"); without a token only on a server started with --metrics-unauthenticated',
    auth: true,
    response: res.MetricsText,
    mediaType: 'text/plain; version=0.0.4',
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapiDocument',
    tag: 'meta',
    summary: 'This document',
    auth: false,
    response: res.OpenApiDocument,
  },
];

/** Names of reused request schemas (components). */
const REQUEST_COMPONENTS: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['Empty', EmptyBody],
  ['HolderPublicKeyFile', HolderPublicKeyFile],
  ['CeremonyRequest', CeremonyBody],
  ['Submission', SubmissionBody],
  ['PolicyBinding', PolicyBindingBody],
  ['EncryptItem', EncryptItem],
  ['DecryptItem', DecryptItem],
  ['SignItem', SignItem],
  ['VerifyItem', VerifyItem],
  ['HmacItem', HmacItem],
  ['WrappingAlgorithm', WrappingAlgorithmSchema],
];

/** What each error status means here; the body is always the Error schema. */
const ERROR_RESPONSES: Readonly<Record<number, { name: string; description: string; retryAfter?: true }>> = {
  400: {
    name: 'BadRequest',
    description:
      'Malformed request: VALIDATION_FAILED or INVALID_JSON naming the field and what was expected, or an operation-specific code',
  },
  401: { name: 'Unauthenticated', description: 'No valid bearer token (UNAUTHENTICATED)' },
  403: {
    name: 'Forbidden',
    description: 'The policies denied the request (POLICY_DENIED), or an approval rule refused the caller (APPROVAL_*)',
  },
  404: { name: 'NotFound', description: 'The named key, token, policy or approval does not exist' },
  409: {
    name: 'Conflict',
    description:
      'The request conflicts with the current state (exists already, pending deletion, wrong ceremony state, approval not pending)',
  },
  410: { name: 'Gone', description: 'The approval expired (APPROVAL_EXPIRED)' },
  413: { name: 'PayloadTooLarge', description: 'The body exceeds the route limit (BODY_TOO_LARGE)' },
  415: { name: 'UnsupportedMediaType', description: 'The body is not application/json (UNSUPPORTED_MEDIA_TYPE)' },
  429: {
    name: 'TooManyRequests',
    description:
      'Rate limited (RATE_LIMITED): the ceremony limit, or too many failed authentications from this address; retry after Retry-After seconds',
    retryAfter: true,
  },
  503: {
    name: 'Unavailable',
    description:
      'Sealed or not initialized (SEALED, NOT_INITIALIZED), or storage, audit log or crypto workers unavailable; retry after Retry-After seconds',
    retryAfter: true,
  },
};

/** The statuses a route can answer: success first, then (sorted) the parked 202 and the errors. */
export function routeStatuses(r: RouteDoc): { success: Map<number, z.ZodType>; errors: number[] } {
  const success = new Map<number, z.ZodType>([[r.status ?? 200, r.response]]);
  for (const [s, schema] of Object.entries(r.also ?? {})) success.set(Number(s), schema);
  if (r.parkable ?? r.auth) success.set(202, res.ApprovalPending);
  const errors = new Set<number>(r.errors ?? []);
  if (r.body) [400, 413, 415].forEach((s) => errors.add(s));
  if (r.query || r.path.includes(':')) errors.add(400);
  // 429: a client that failed authentication too often is refused before its token is looked up.
  if (r.auth) [401, 403, 429, 503].forEach((s) => errors.add(s));
  for (const s of success.keys()) errors.delete(s);
  return { success, errors: [...errors].sort((a, b) => a - b) };
}

/** The RouteDoc of a request (method and path without the query string), if any. */
export function findRoute(method: string, path: string): RouteDoc | undefined {
  const m = method.toLowerCase();
  const p = path.split('?')[0]!;
  return ROUTES.find((r) => r.method === m && routePattern(r.path).test(p));
}

const patterns = new Map<string, RegExp>();
function routePattern(path: string): RegExp {
  let re = patterns.get(path);
  if (!re) {
    re = new RegExp('^' + path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([A-Za-z]+)/g, '[^/]+') + '$');
    patterns.set(path, re);
  }
  return re;
}

const pascal = (id: string) => id[0]!.toUpperCase() + id.slice(1);
const REF = (name: string) => `#/components/schemas/${name}`;
type Json = Record<string, unknown>;

/** Converts a registry of named schemas to components (no `$schema`/`$id`; refs between them). */
function components(reg: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output'): Record<string, Json> {
  const out = z.toJSONSchema(reg, {
    target: 'draft-2020-12',
    io,
    uri: REF,
    unrepresentable: 'any',
    // An unknown key type is the engine's KEY_TYPE_INVALID (schemas.ts KeyTypeName), documented as the enum.
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === KeyTypeName) {
        for (const k of Object.keys(jsonSchema)) delete (jsonSchema as Json)[k];
        (jsonSchema as Json).$ref = REF('KeyType');
      }
    },
  }) as { schemas: Record<string, Json> };
  const schemas: Record<string, Json> = {};
  for (const [name, { $schema: _s, $id: _i, ...rest }] of Object.entries(out.schemas)) schemas[name] = rest;
  return schemas;
}

/** A zod object's fields as OpenAPI parameters (`in` query or path). */
function parameters(where: 'query' | 'path', fields: Record<string, z.ZodType>): Json[] {
  return Object.entries(fields).map(([name, schema]) => {
    const {
      $schema: _s,
      description,
      ...json
    } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
    const required = where === 'path' || !schema.safeParse(undefined).success;
    return { name, in: where, required, ...(description ? { description } : {}), schema: json };
  });
}

let cached: object | undefined;

/** The document of {@link ROUTES} (built once). */
export function openApiDocument(): object {
  return (cached ??= buildDocument(ROUTES));
}

/** The document of `routes` (tests build variants). */
export function buildDocument(routes: readonly RouteDoc[]): object {
  // Named schemas, then each route's unnamed body and response under its operationId.
  const requests = z.registry<{ id: string }>();
  const responses = z.registry<{ id: string }>();
  for (const [id, s] of REQUEST_COMPONENTS) requests.add(s, { id });
  for (const [id, s] of res.RESPONSE_COMPONENTS) responses.add(s, { id });
  const nameOf = (reg: z.core.$ZodRegistry<{ id: string }>, s: z.ZodType, fallback: string) => {
    const known = reg.get(s)?.id;
    if (known) return known;
    reg.add(s, { id: fallback });
    return fallback;
  };
  const ops = new Set<string>();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (ops.has(r.operationId)) throw new Error(`operationId ${r.operationId} is used twice`);
    ops.add(r.operationId);
    const oaPath = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const pathParams = Object.fromEntries(
      [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => [m[1]!, r.params?.[m[1]!] ?? PATH_PARAMS[m[1]!] ?? z.string()]),
    );
    const params = [
      ...parameters('path', pathParams),
      ...(r.query ? parameters('query', r.query.shape as Record<string, z.ZodType>) : []),
    ];
    const { success, errors } = routeStatuses(r);
    const responsesDoc: Record<string, unknown> = {};
    for (const [status, schema] of [...success].sort(([a], [b]) => a - b)) {
      if (schema === res.ApprovalPending) {
        responsesDoc[status] = { $ref: '#/components/responses/ApprovalPending' };
        continue;
      }
      if (r.mediaType && status === (r.status ?? 200)) {
        responsesDoc[status] = {
          description: 'Success',
          content: {
            [r.mediaType]: { schema: { type: 'string', format: 'binary' } },
            ...Object.fromEntries(
              Object.entries(r.alternates ?? {}).map(([type, description]) => [
                type,
                { schema: { type: 'string', format: 'binary', description } },
              ]),
            ),
          },
        };
        continue;
      }
      const name = nameOf(responses, schema, `${pascal(r.operationId)}Response`);
      responsesDoc[status] = {
        description: status === (r.status ?? 200) ? 'Success' : `${status}: see the summary`,
        content: {
          'application/json': {
            schema: { $ref: REF(name) },
          },
          ...(status === (r.status ?? 200)
            ? Object.fromEntries(
                Object.entries(r.alternates ?? {}).map(([type, description]) => [
                  type,
                  { schema: { type: 'string', format: 'binary', description } },
                ]),
              )
            : {}),
        },
      };
    }
    if (r.errorBody) {
      const content = {
        'application/json': { schema: { $ref: REF(nameOf(responses, r.errorBody, `${pascal(r.operationId)}Error`)) } },
      };
      for (const status of errors)
        responsesDoc[status] = { description: ERROR_RESPONSES[status]?.description ?? 'Error', content };
      responsesDoc.default = { description: 'Unexpected error', content };
    } else {
      for (const status of errors)
        responsesDoc[status] = { $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` };
      responsesDoc.default = { $ref: '#/components/responses/InternalError' };
    }
    paths[oaPath] ??= {};
    paths[oaPath]![r.method] = {
      operationId: r.operationId,
      tags: [r.tag],
      summary: r.summary,
      ...(params.length ? { parameters: params } : {}),
      security: r.auth ? [{ bearer: [] }] : [],
      ...(r.body
        ? {
            requestBody: {
              required: r.body !== ExecuteBody,
              content: {
                'application/json': {
                  schema: { $ref: REF(nameOf(requests, r.body, `${pascal(r.operationId)}Request`)) },
                },
              },
            },
          }
        : {}),
      responses: responsesDoc,
    };
  }
  const schemas = components(responses, 'output');
  for (const [name, schema] of Object.entries(components(requests, 'input'))) {
    if (name in schemas && JSON.stringify(schemas[name]) !== JSON.stringify(schema))
      throw new Error(`schema ${name} differs between requests and responses`);
    schemas[name] = schema;
  }
  const errorContent = { 'application/json': { schema: { $ref: REF('Error') } } };
  const retryAfter = {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
  };
  const responseComponents: Record<string, unknown> = {
    ApprovalPending: {
      description:
        'Parked: a policy requires approval. Approvers approve it; then the requester executes it with POST /v1/approvals/{approvalId}/execute and the same body',
      headers: { Location: { description: 'The approval: /v1/approvals/{approvalId}', schema: { type: 'string' } } },
      content: { 'application/json': { schema: { $ref: REF('ApprovalPending') } } },
    },
    InternalError: {
      description: 'Unexpected error (INTERNAL); details go to the server log only',
      content: errorContent,
    },
  };
  for (const e of Object.values(ERROR_RESPONSES))
    responseComponents[e.name] = {
      description: e.description,
      ...(e.retryAfter ? { headers: retryAfter } : {}),
      content: errorContent,
    };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Keyward',
      version: VERSION,
      description:
        'Software HSM: sealed by a Shamir quorum, every request decided by WebAssembly policies, every decision in a verifiable Merkle audit log.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      {
        url: 'http://{host}:{port}',
        description: 'A Keyward server (`keyward server` listens on 127.0.0.1:8420 by default)',
        variables: { host: { default: '127.0.0.1' }, port: { default: '8420' } },
      },
    ],
    tags: TAGS.map((t) => ({ ...t })),
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      responses: responseComponents,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A kwt_ token (POST /v1/auth/tokens; the root token from init)',
        },
      },
    },
  };
}
