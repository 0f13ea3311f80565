/**
 * Response schemas: what each route answers, as zod objects. GET /openapi.json is built from these
 * (server/openapi.ts), and the server tests check every response they receive against the schema
 * documented for its route and status (test/helpers/server.ts), so the document can't drift from
 * what the routes return.
 *
 * Objects are strict: a field the server adds must be documented here first (the tests fail
 * otherwise). Schemas with a name in {@link RESPONSE_COMPONENTS} become `#/components/schemas/<name>`,
 * so generated clients get named types.
 * @module
 */
import { z } from 'zod';
import { SHARD_FORMAT } from '../ceremony/index.js';
import { ENVELOPE_SUITE } from '../ceremony/envelope.js';
import { APPROVAL_STATES } from '../engine/approvals/index.js';
import { AttestationBundleSchema } from '../engine/audit/math/bundle.js';
import { KEY_TYPES } from '../engine/crypto/index.js';
import { POLICY_FAULTS } from '../engine/policy/sandbox/index.js';
import { WrappingAlgorithmSchema } from './schemas.js';

// ---------------------------------------------------------------------------------------------
// Building blocks.

const int = z.number().int().min(0);
const positive = z.number().int().min(1);
/** Standard padded base64 (RFC 4648 §4). */
const b64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/)
  .describe('standard padded base64');
/** `kw:v<version>:<base64>` (engine/crypto/format.ts): ciphertexts, signatures, HMACs. */
const versioned = z
  .string()
  .regex(/^kw:v[1-9][0-9]{0,9}:[A-Za-z0-9+/]*={0,2}$/)
  .describe('kw:v<key version>:<base64>');
const hex64 = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('SHA-256, 64 lowercase hex digits');
const timestamp = z.iso.datetime();

/** Every key type (engine/crypto/types.ts KEY_TYPES). */
export const KeyType = z.enum(KEY_TYPES);

/** The shared error body of every 4xx/5xx: `{"error": {"code", "message"}}` (server/errors.ts). */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/)
      .describe('stable UPPER_SNAKE code (server/errors.ts)'),
    message: z.string().describe('what was expected; never echoes secrets'),
  }),
});

/**
 * 202 Accepted: a policy parked the request for approval (engine/approvals). The requester executes
 * it with POST /v1/approvals/{approvalId}/execute and the same body once enough approvers agreed.
 */
export const ApprovalPending = z.strictObject({
  approvalId: z
    .string()
    .regex(/^apr_[0-9a-f]{32}$/)
    .describe('GET /v1/approvals/{approvalId}; execute with POST /v1/approvals/{approvalId}/execute'),
  required: positive.describe('approvals needed'),
  group: z.string().describe('the role whose holders may approve'),
  reason: z.string().describe("the policy's reason"),
  expiresAt: timestamp.describe('the request must be approved and executed before then'),
});

// ---------------------------------------------------------------------------------------------
// /v1/sys

export const Health = z.strictObject({
  initialized: z.boolean(),
  sealed: z.boolean(),
  threshold: int,
  shares: int,
  progress: int,
  version: z.string(),
  /** Whether the database answers now; `reason` (a code such as ECONNREFUSED or DEADLINE) when it does not. */
  storage: z.strictObject({ driver: z.enum(['pglite', 'postgres']), ok: z.boolean(), reason: z.string().optional() }),
  /** The post-quantum backend ML-DSA and ML-KEM run on: the native PQClean addon, or @noble/post-quantum. */
  crypto: z.strictObject({ postQuantum: z.enum(['pqclean', 'noble']) }),
});

const HolderInfo = z.strictObject({
  name: z.string(),
  fingerprint: z.string().regex(/^[0-9a-f]{32}$/),
  index: int,
  commitment: z.string(),
});

const sealStatusShape = {
  initialized: z.boolean(),
  sealed: z.boolean(),
  threshold: int,
  shares: int,
  progress: int,
  ceremonyId: z.string().nullable(),
  generation: int,
  /** The unseal session nonce (32 hex) that submissions are sealed to. */
  nonce: z.string().nullable(),
  sessionPublicKey: b64.nullable(),
  holders: z.array(HolderInfo),
  /** Share indexes of the holders whose shards the current unseal session holds. */
  submitted: z.array(int),
  version: z.string(),
  /** This node's name (as in its audit records' `node`). */
  node: z.string(),
};
export const SealStatus = z.strictObject(sealStatusShape);
export const UnsealProgress = z.strictObject({ ...sealStatusShape, holder: z.string(), index: int });

export const ShardFile = z.strictObject({
  format: z.literal(SHARD_FORMAT),
  ceremonyId: z.string(),
  holder: z.string(),
  holderFingerprint: z.string().regex(/^[0-9a-f]{32}$/),
  index: int,
  threshold: positive,
  shares: positive,
  suite: z.literal(ENVELOPE_SUITE),
  enc: b64,
  ciphertext: b64,
});

const ceremonyShape = {
  ceremonyId: z.string(),
  generation: int,
  threshold: positive,
  shares: positive,
  shards: z.array(ShardFile),
};
export const InitResult = z.strictObject({ ...ceremonyShape, rootToken: z.string(), rootTokenId: z.string() });

export const RootRotation = z.strictObject({ term: int, terms: z.array(int) });

export const RekeyStatus = z.strictObject({
  started: z.boolean(),
  nonce: z.string().nullable(),
  sessionPublicKey: b64.nullable(),
  progress: int,
  required: int,
  newShares: int,
  newThreshold: int,
  newHolders: z.array(z.string()),
});

export const RekeyUpdate = z.discriminatedUnion('complete', [
  z.strictObject({ complete: z.literal(false), progress: int, required: int, holder: z.string(), index: int }),
  z.strictObject({ complete: z.literal(true), ...ceremonyShape }),
]);

// ---------------------------------------------------------------------------------------------
// /v1/auth

export const Whoami = z.strictObject({
  tokenId: z.string(),
  principal: z.string(),
  roles: z.array(z.string()),
  expiresAt: timestamp.nullable(),
});
export const TokenCreated = z.strictObject({
  token: z.string(),
  tokenId: z.string(),
  principal: z.string(),
  roles: z.array(z.string()),
  expiresAt: timestamp.nullable(),
});
export const TokenRevoked = z.strictObject({ tokenId: z.string(), revoked: z.literal(true) });

// ---------------------------------------------------------------------------------------------
// /v1/policies

const Decision = z.enum(['allow', 'deny', 'require_approval']);
const PolicyFault = z.enum(POLICY_FAULTS);
const BindingScope = z.enum(['global', 'key']);

export const PolicyPushed = z.strictObject({ sha256: hex64, name: z.string(), size: positive, created: z.boolean() });
export const PolicySummary = z.strictObject({
  sha256: hex64,
  name: z.string(),
  size: positive,
  createdAt: timestamp,
  createdBy: z.string().nullable(),
  bindings: z.array(
    z.strictObject({
      scope: BindingScope,
      key: z.string().nullable(),
      activatedAt: timestamp,
      activatedBy: z.string().nullable(),
    }),
  ),
});
export const PolicyList = z.strictObject({ policies: z.array(PolicySummary) });
export const PolicyActivated = z.strictObject({
  sha256: hex64,
  scope: BindingScope,
  key: z.string().nullable(),
  active: z.literal(true),
  created: z.boolean(),
});
export const PolicyDeactivated = z.strictObject({
  sha256: hex64,
  scope: BindingScope,
  key: z.string().nullable(),
  active: z.literal(false),
});

/** One policy's verdict (POST /v1/policies/evaluate with `hash`). */
export const PolicyEvaluation = z.strictObject({
  decision: Decision,
  approvals: int,
  group: z.string(),
  reason: z.string(),
  gas: int,
  hash: hex64,
  fault: PolicyFault.nullable(),
});
/** The active set's composed decision (POST /v1/policies/evaluate without `hash`). */
export const ComposedDecision = z.strictObject({
  decision: Decision,
  approvals: int,
  group: z.string(),
  reason: z.string(),
  decidedBy: hex64.nullable(),
  policies: z.array(
    z.strictObject({ sha256: hex64, decision: Decision, gas: int, reason: z.string(), fault: PolicyFault.nullable() }),
  ),
  requirements: z.array(z.strictObject({ sha256: hex64, approvals: int, group: z.string(), reason: z.string() })),
});

// ---------------------------------------------------------------------------------------------
// /v1/keys

const Labels = z.record(z.string(), z.string());

export const KeyInfo = z.strictObject({
  name: z.string(),
  type: KeyType,
  exportable: z.boolean(),
  verifyOnly: z.boolean(),
  labels: Labels,
  latestVersion: positive,
  minDecryptionVersion: positive,
  deletionAllowed: z.boolean(),
  /** ECDSA verify refuses high-S signatures (a profile such as Bitcoin's); false: any valid signature (FIPS 186-5). */
  requireLowS: z.boolean(),
  deleteAfter: timestamp.nullable(),
  createdAt: timestamp,
  versions: z.array(z.strictObject({ version: positive, createdAt: timestamp, publicKey: b64.nullable() })),
});

export const KeyList = z.strictObject({
  keys: z.array(
    z.strictObject({
      name: z.string(),
      type: KeyType,
      latestVersion: positive,
      labels: Labels,
      /** Set while the key is scheduled for deletion: when it will be purged (it refuses operations meanwhile). */
      deleteAfter: timestamp.nullable(),
    }),
  ),
  /** Pass as `after` for the next page; null on the last page. */
  next: z.string().nullable(),
});

/** POST /v1/keys/:name/export: one version's private material wrapped to the caller's key, as import takes it. */
export const KeyExport = z.strictObject({
  name: z.string(),
  type: KeyType,
  keyVersion: positive,
  keyId: z.string().regex(/^key_[0-9a-f]{24}$/),
  algorithm: WrappingAlgorithmSchema,
  wrappedKey: b64,
  wrappingKeyFingerprint: hex64,
  /** The version's public key (base64 raw/SPKI as in key info), null for symmetric keys. */
  publicKey: b64.nullable(),
});

export const EncryptResult = z.strictObject({ ciphertext: versioned, keyVersion: positive });
export const DecryptResult = z.strictObject({ plaintext: b64 });
export const DatakeyResult = z.strictObject({ plaintext: b64, ciphertext: versioned, keyVersion: positive });
export const SignResult = z.strictObject({ signature: versioned, keyVersion: positive });
export const VerifyResult = z.strictObject({ valid: z.boolean() });
export const HmacResult = z.strictObject({ hmac: versioned, keyVersion: positive });
export const EncapsulateResult = z.strictObject({ ciphertext: b64, sharedSecret: b64, keyVersion: positive });
export const DecapsulateResult = z.strictObject({ sharedSecret: b64 });

/** RFC 7517 JWK (RFC 8037 OKP, EC, RSA) or the "AKP" JWK of the post-quantum drafts. */
export const Jwk = z.looseObject({ kty: z.string(), alg: z.string().optional(), use: z.string().optional() });
export const PublicKey = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('pem'), publicKey: z.string(), keyVersion: positive }),
  z.strictObject({ format: z.literal('raw'), publicKey: b64, keyVersion: positive }),
  z.strictObject({ format: z.literal('jwk'), publicKey: Jwk, keyVersion: positive }),
]);

export const WrappingKey = z.strictObject({
  algorithm: WrappingAlgorithmSchema,
  format: z.enum(['pem', 'raw']),
  publicKey: z.string(),
  fingerprint: hex64,
});
export const RandomResult = z.strictObject({ bytes: b64 });

/** A failed batch item: the error body a single request would have had. */
export const BatchItemError = ErrorBody;

/**
 * A one-or-batch operation's answer: the item's result, or `{batch: [...]}` with one result or
 * error per item, in order (server/routes/keys.ts `operation`).
 */
export const oneOrBatch = <T extends z.ZodType>(result: T) =>
  z.union([result, z.strictObject({ batch: z.array(z.union([result, BatchItemError])) })]);

// ---------------------------------------------------------------------------------------------
// /v1/audit

export const AuditKeys = z.strictObject({
  origin: z.string(),
  ed25519: z.string(),
  mlDsa44: z.string(),
  keys: z.array(z.string()),
});
export const AuditCheckpoint = z.strictObject({ size: positive, root: b64, note: z.string() });
export const AuditRecords = z.strictObject({
  size: int,
  records: z.array(z.strictObject({ index: int, leaf: z.string(), chain: z.string() })),
  next: int.nullable(),
});
export const InclusionProof = z.strictObject({ index: int, size: positive, leafHash: b64, proof: z.array(b64) });
export const ConsistencyProof = z.strictObject({ from: positive, to: positive, proof: z.array(b64) });
export const AuditHash = z.strictObject({ hash: z.string() });
export { AttestationBundleSchema as AttestationBundle };

// ---------------------------------------------------------------------------------------------
// /v1/approvals

export const Approval = z.strictObject({
  id: z.string().regex(/^apr_[0-9a-f]{32}$/),
  state: z.enum(APPROVAL_STATES),
  requester: z.string(),
  operation: z.string(),
  key: z.string().nullable(),
  method: z.string(),
  path: z.string(),
  requestDigest: z.string(),
  policies: z.array(hex64),
  required: positive,
  group: z.string(),
  reason: z.string(),
  approvedBy: z.array(z.string()),
  approvals: int,
  createdAt: timestamp,
  expiresAt: timestamp,
  finishedAt: timestamp.nullable(),
  deniedBy: z.string().nullable(),
  denyReason: z.string().nullable(),
  resultStatus: z.number().int().nullable(),
  resultCode: z.string().nullable(),
});
export const ApprovalList = z.strictObject({ approvals: z.array(Approval), next: z.string().nullable() });

/** Whatever the executed operation answers (its own documented response). */
export const ExecutedResult = z.record(z.string(), z.unknown());

/** GET /openapi.json: an OpenAPI 3.1 document. */
/** GET /metrics: the Prometheus text exposition (server/metrics.ts). */
export const MetricsText = z.string().meta({ description: 'Prometheus text exposition format 0.0.4' });

export const OpenApiDocument = z.looseObject({
  openapi: z.literal('3.1.0'),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/**
 * Names for reused schemas: each becomes `#/components/schemas/<name>` and every use a `$ref`, so
 * generated clients have named types. Route-specific anonymous schemas are named after the route's
 * operationId by server/openapi.ts.
 */
export const RESPONSE_COMPONENTS: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['Error', ErrorBody],
  ['ApprovalPending', ApprovalPending],
  ['KeyType', KeyType],
  ['Health', Health],
  ['SealStatus', SealStatus],
  ['UnsealProgress', UnsealProgress],
  ['ShardFile', ShardFile],
  ['InitResult', InitResult],
  ['RootRotation', RootRotation],
  ['RekeyStatus', RekeyStatus],
  ['RekeyUpdate', RekeyUpdate],
  ['Whoami', Whoami],
  ['TokenCreated', TokenCreated],
  ['TokenRevoked', TokenRevoked],
  ['PolicyPushed', PolicyPushed],
  ['PolicySummary', PolicySummary],
  ['PolicyList', PolicyList],
  ['PolicyActivated', PolicyActivated],
  ['PolicyDeactivated', PolicyDeactivated],
  ['PolicyEvaluation', PolicyEvaluation],
  ['ComposedDecision', ComposedDecision],
  ['KeyInfo', KeyInfo],
  ['KeyList', KeyList],
  ['EncryptResult', EncryptResult],
  ['DecryptResult', DecryptResult],
  ['DatakeyResult', DatakeyResult],
  ['SignResult', SignResult],
  ['VerifyResult', VerifyResult],
  ['HmacResult', HmacResult],
  ['EncapsulateResult', EncapsulateResult],
  ['DecapsulateResult', DecapsulateResult],
  ['Jwk', Jwk],
  ['PublicKey', PublicKey],
  ['WrappingKey', WrappingKey],
  ['RandomResult', RandomResult],
  ['AuditKeys', AuditKeys],
  ['AuditCheckpoint', AuditCheckpoint],
  ['AuditRecords', AuditRecords],
  ['InclusionProof', InclusionProof],
  ['ConsistencyProof', ConsistencyProof],
  ['AuditHash', AuditHash],
  ['AttestationBundle', AttestationBundleSchema],
  ['Approval', Approval],
  ['ApprovalList', ApprovalList],
  ['OpenApiDocument', OpenApiDocument],
];
