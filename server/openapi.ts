/**
 * GET /openapi.json: an OpenAPI 3.1 document built from the zod schemas that validate the request
 * bodies (one source of truth: the schema objects here are the ones routes parse with). A test
 * checks that every route the routers register is described here, and nothing else.
 * @module
 */
import { z } from 'zod';
import { VERSION } from '../engine/version.js';
import {
  ApprovalDenyBody,
  AuditExportBody,
  AuditHashBody,
  CeremonyBody,
  DatakeyBody,
  DecapsulateBody,
  DecryptItem,
  EmptyBody,
  EncryptItem,
  HmacItem,
  KeyConfigBody,
  KeyCreateBody,
  KeyExportBody,
  KeyImportBody,
  PolicyBindingBody,
  PolicyEvaluateBody,
  PolicyPushBody,
  RandomBody,
  RewrapBody,
  SignItem,
  SubmissionBody,
  TokenCreateBody,
  VerifyItem,
  batchOf,
} from './schemas.js';

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  /** Koa style: /v1/policies/:hash/activate */
  path: string;
  summary: string;
  /** Needs a bearer token (and the policies' allow). */
  auth: boolean;
  body?: z.ZodType;
  /** Success status (default 200). */
  status?: number;
}

export const ROUTES: readonly RouteDoc[] = [
  { method: 'get', path: '/v1/sys/health', summary: 'Health: 200 unsealed, 503 sealed, 501 not initialized', auth: false },
  { method: 'get', path: '/v1/sys/seal-status', summary: 'Seal status with the unseal session nonce and public key, and shard commitments', auth: false },
  { method: 'post', path: '/v1/sys/init', summary: 'Initialize: split the unseal key to holders (sealed shards) and return the root token once', auth: false, body: CeremonyBody },
  { method: 'post', path: '/v1/sys/unseal', summary: "Submit a holder's share, sealed to the unseal session key", auth: false, body: SubmissionBody },
  { method: 'post', path: '/v1/sys/unseal/reset', summary: 'Discard unseal progress and start a new session', auth: false, body: EmptyBody },
  { method: 'post', path: '/v1/sys/seal', summary: 'Seal: zeroize keys', auth: true, body: EmptyBody },
  { method: 'post', path: '/v1/sys/rotate', summary: 'Root rotation: a new keyring term', auth: true, body: EmptyBody },
  { method: 'get', path: '/v1/sys/rekey', summary: 'Rekey status with its session nonce and public key', auth: false },
  { method: 'post', path: '/v1/sys/rekey/init', summary: 'Start a rekey to new holders and threshold', auth: true, body: CeremonyBody },
  { method: 'post', path: '/v1/sys/rekey/update', summary: 'Submit a current share to the rekey; the last one receives the new shards', auth: false, body: SubmissionBody },
  { method: 'post', path: '/v1/sys/rekey/cancel', summary: 'Cancel the rekey in progress', auth: true, body: EmptyBody },
  { method: 'get', path: '/v1/auth/whoami', summary: 'The principal and roles of the bearer token', auth: true },
  { method: 'post', path: '/v1/auth/tokens', summary: 'Create a token (shown once, stored as a hash); ttl defaults to 24h', auth: true, body: TokenCreateBody, status: 201 },
  { method: 'delete', path: '/v1/auth/tokens/:id', summary: 'Revoke a token by id', auth: true },
  { method: 'post', path: '/v1/policies', summary: 'Push a compiled policy (validated, stored by SHA-256)', auth: true, body: PolicyPushBody, status: 201 },
  { method: 'get', path: '/v1/policies', summary: 'List policies and their bindings', auth: true },
  { method: 'post', path: '/v1/policies/:hash/activate', summary: 'Activate a policy globally or on a key', auth: true, body: PolicyBindingBody },
  { method: 'post', path: '/v1/policies/:hash/deactivate', summary: 'Remove a policy binding (never the last global one)', auth: true, body: PolicyBindingBody },
  { method: 'post', path: '/v1/policies/evaluate', summary: 'Dry-run a stored policy or the active set on a PolicyInput', auth: true, body: PolicyEvaluateBody },
  { method: 'post', path: '/v1/keys', summary: 'Create a key (generated, or verify/encapsulate-only from a public key)', auth: true, body: KeyCreateBody, status: 201 },
  { method: 'get', path: '/v1/keys', summary: 'List keys by name (?limit, ?after)', auth: true },
  { method: 'get', path: '/v1/keys/:name', summary: 'Key metadata, versions and public keys', auth: true },
  { method: 'post', path: '/v1/keys/:name/rotate', summary: 'Add a key version', auth: true, body: EmptyBody },
  { method: 'post', path: '/v1/keys/:name/config', summary: 'Set minDecryptionVersion / deletionAllowed / requireLowS (ECDSA)', auth: true, body: KeyConfigBody },
  { method: 'delete', path: '/v1/keys/:name', summary: 'Schedule deletion after the retention window', auth: true },
  { method: 'post', path: '/v1/keys/:name/encrypt', summary: 'Encrypt (one item or a batch)', auth: true, body: batchOf(EncryptItem) },
  {
    method: 'post',
    path: '/v1/keys/:name/decrypt',
    summary: 'Decrypt (one item or a batch): a kw:v<N>: ciphertext, or its raw base64 body for keyVersion (default latest); RSA keys take RSA-OAEP-SHA-256 ciphertexts (aad = OAEP label); a value in neither form is CIPHERTEXT_FORMAT, every decryption failure DECRYPTION_FAILED',
    auth: true,
    body: batchOf(DecryptItem),
  },
  { method: 'post', path: '/v1/keys/:name/rewrap', summary: 'Re-encrypt under the latest version: a kw:v<N>: ciphertext, or its raw base64 body for keyVersion (default latest)', auth: true, body: RewrapBody },
  { method: 'post', path: '/v1/keys/:name/datakey', summary: 'A random data key and its ciphertext', auth: true, body: DatakeyBody },
  { method: 'post', path: '/v1/keys/:name/sign', summary: 'Sign (one item or a batch)', auth: true, body: batchOf(SignItem) },
  { method: 'post', path: '/v1/keys/:name/verify', summary: 'Verify (one item or a batch): a kw:v<N>: signature, or the raw base64 signature for keyVersion (default latest); a bad signature is {valid:false}, a value in neither form SIGNATURE_FORMAT; ECDSA accepts high and low S unless the key has requireLowS', auth: true, body: batchOf(VerifyItem) },
  { method: 'post', path: '/v1/keys/:name/hmac', summary: 'HMAC (one item or a batch)', auth: true, body: batchOf(HmacItem) },
  { method: 'post', path: '/v1/keys/:name/encapsulate', summary: 'KEM encapsulation to the key', auth: true, body: EmptyBody },
  { method: 'post', path: '/v1/keys/:name/decapsulate', summary: 'KEM decapsulation', auth: true, body: DecapsulateBody },
  { method: 'get', path: '/v1/keys/:name/public', summary: 'Public key (?format=pem|jwk|raw)', auth: true },
  { method: 'get', path: '/v1/sys/wrapping-key', summary: 'The server-wide BYOK wrapping public key (?algorithm=rsa-oaep-3072-aes-kwp|ml-kem-768|x-wing), generated on first use', auth: true },
  { method: 'post', path: '/v1/keys/:name/import', summary: 'BYOK: create a key from private material wrapped under the wrapping key (never in the clear)', auth: true, body: KeyImportBody, status: 201 },
  {
    method: 'post',
    path: '/v1/keys/:name/export',
    summary:
      'Export one version (keyVersion, default the latest) of an exportable key, wrapped to the caller\'s public wrappingKey exactly as import takes it (never in the clear); dual control: parked (202) for two operators\' approval by the default policy, refused at once (4xx) when it could not run (not exportable, verify-only, bad wrapping key, no such version)',
    auth: true,
    body: KeyExportBody,
  },
  { method: 'post', path: '/v1/random', summary: 'Random bytes', auth: true, body: RandomBody },
  { method: 'get', path: '/v1/audit/keys', summary: "The audit log's origin and C2SP verifier keys (Ed25519, ML-DSA-44)", auth: true },
  { method: 'get', path: '/v1/audit/checkpoint', summary: 'The latest signed checkpoint (C2SP signed note)', auth: true },
  { method: 'get', path: '/v1/audit/records', summary: 'Audit records (exact leaves) in [from, to), paginated (?from&to&limit)', auth: true },
  { method: 'get', path: '/v1/audit/proofs/inclusion', summary: 'RFC 9162 inclusion proof (?index&size; size of a signed checkpoint)', auth: true },
  { method: 'get', path: '/v1/audit/proofs/consistency', summary: 'RFC 9162 consistency proof (?from&to; sizes of signed checkpoints)', auth: true },
  { method: 'post', path: '/v1/audit/hash', summary: 'The audit HMAC of a known value, to find it in records', auth: true, body: AuditHashBody },
  { method: 'post', path: '/v1/audit/export', summary: 'An attestation bundle over a fresh checkpoint (docs/audit-bundle.md)', auth: true, body: AuditExportBody },
  { method: 'get', path: '/v1/approvals', summary: 'Approvals the caller requested or may approve (?state&limit&after)', auth: true },
  { method: 'get', path: '/v1/approvals/:id', summary: 'One approval: request, requirement, approvers, state', auth: true },
  { method: 'post', path: '/v1/approvals/:id/approve', summary: 'Approve (not the requester; must hold the named role; counts once)', auth: true, body: EmptyBody },
  { method: 'post', path: '/v1/approvals/:id/deny', summary: "Deny: any approver's denial ends the request", auth: true, body: ApprovalDenyBody },
  {
    method: 'post',
    path: '/v1/approvals/:id/execute',
    summary: "The requester runs the approved request once, sending its original body (the response is the operation's)",
    auth: true,
  },
  { method: 'get', path: '/openapi.json', summary: 'This document', auth: false },
];

const ErrorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$' }, message: { type: 'string' } },
    },
  },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

let cached: object | undefined;

export function openApiDocument(): object {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const oaPath = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[oaPath] ??= {};
    paths[oaPath]![r.method] = {
      summary: r.summary,
      ...(params.length ? { parameters: params } : {}),
      ...(r.auth ? { security: [{ bearer: [] }] } : { security: [] }),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses: {
        [String(r.status ?? 200)]: { description: 'success', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  cached = {
    openapi: '3.1.0',
    info: { title: 'Keyward', version: VERSION, description: 'Software HSM: sealed by a Shamir quorum, every request decided by WebAssembly policies.' },
    paths,
    components: {
      schemas: { Error: ErrorBody },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'kwt_ token' } },
    },
    security: [{ bearer: [] }],
  };
  return cached;
}
