/**
 * Request schemas: the single source for validating bodies (and, later, for the OpenAPI document).
 * @module
 */
import { z } from 'zod';
import { WRAPPING_ALGORITHMS } from '../engine/crypto/byok.js';

/** Standard base64 with padding, bounded. The decoder re-checks canonical form and length. */
export const base64 = (maxChars: number) =>
  z.string().max(maxChars, `expected at most ${maxChars} base64 characters`).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64 (A-Z a-z 0-9 + / =)');

/** A holder's public key file as written by `keyward ceremony holder-keygen` (FILE.pub). */
export const HolderPublicKeyFile = z.object({
  format: z.literal('keyward.holder-public-key/v1'),
  name: z.string().min(1).max(64),
  kem: z.literal('X-Wing'),
  publicKey: base64(2048),
  fingerprint: z.string().regex(/^[0-9a-f]{32}$/, 'expected 32 lowercase hex characters'),
});

export const CeremonyBody = z.strictObject({
  holders: z.array(HolderPublicKeyFile).min(1, 'expected at least 1 holder').max(255, 'expected at most 255 holders'),
  threshold: z.number().int('expected an integer').min(1).max(255),
});

/** A holder's shard re-encrypted to the session key (see ceremony/submission.ts). */
export const SubmissionBody = z.strictObject({
  nonce: z.string().regex(/^[0-9a-f]{32}$/, 'expected the 32-hex-character session nonce from seal status'),
  enc: base64(4096),
  ciphertext: base64(4096),
});

export const EmptyBody = z.strictObject({});

/** A policy upload: the compiled .wasm as base64 (at most 1 MiB of module). */
export const PolicyPushBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1-64 characters [A-Za-z0-9._-]'),
  wasm: base64(Math.ceil((1024 * 1024) / 3) * 4),
});

export const PolicyBindingBody = z.discriminatedUnion('scope', [
  z.strictObject({ scope: z.literal('global') }),
  z.strictObject({ scope: z.literal('key'), key: z.string().min(1).max(128) }),
]);

/** Evaluate a stored policy (by hash) or the active set (no hash) on a PolicyInput, without running anything. */
export const PolicyEvaluateBody = z.strictObject({
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters').optional(),
  input: z.unknown(),
});

/** A duration: seconds as a number, or "90s", "15m", "24h", "7d". */
export const Ttl = z.union([
  z.number().int('expected whole seconds').positive(),
  z.string().regex(/^\d{1,9}[smhd]$/, 'expected a duration like 90s, 15m, 24h or 7d'),
]);

/** `ttl` is optional: without it a token lives DEFAULT_TOKEN_TTL_SECONDS (24h, engine/auth/tokens.ts). */
export const TokenCreateBody = z.strictObject({
  principal: z.string().regex(/^[A-Za-z0-9._@:-]{1,128}$/, 'expected 1-128 characters [A-Za-z0-9._@:-]'),
  roles: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a role of 1-32 characters [a-z0-9_-]')).min(1).max(16),
  ttl: Ttl.optional(),
});

// ---------------------------------------------------------------------------------------------
// Keys and operations. Byte fields are standard base64; bounds keep one request under the body limit.

const MAX_ITEM_B64 = 700_000;
const ENCODING = z.enum(['der', 'p1363']);

export const KeyCreateBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected 1-128 characters [A-Za-z0-9._-]'),
  type: z.string().max(64),
  exportable: z.boolean().optional(),
  labels: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), z.string().max(256)).refine((l) => Object.keys(l).length <= 32, 'expected at most 32 labels').optional(),
  publicKey: z.string().max(16_384).optional(),
  /** ECDSA only: verification rejects high-S signatures (default false: both S forms verify, FIPS 186-5). */
  requireLowS: z.boolean().optional(),
});

export const KeyConfigBody = z
  .strictObject({ minDecryptionVersion: z.number().int().min(1).optional(), deletionAllowed: z.boolean().optional(), requireLowS: z.boolean().optional() })
  .refine((b) => b.minDecryptionVersion !== undefined || b.deletionAllowed !== undefined || b.requireLowS !== undefined, 'expected minDecryptionVersion, deletionAllowed or requireLowS');

export const EncryptItem = z.strictObject({ plaintext: base64(MAX_ITEM_B64), aad: base64(8192).optional() });
/**
 * `ciphertext` (and verify's `signature`) is `kw:v<N>:<base64>`, which names its key version, or the
 * raw value as standard base64, for `keyVersion` (default: the latest); a `keyVersion` beside a
 * `kw:` value must agree with it. Anything else is a 400 CIPHERTEXT_FORMAT / SIGNATURE_FORMAT
 * (checked by the key service, engine/crypto/format.ts parseVersionedOrRaw). AEAD keys: `aad` is the
 * associated data; RSA keys: the ciphertext is RSA-OAEP-SHA-256 and `aad` the OAEP label.
 */
export const DecryptItem = z.strictObject({ ciphertext: z.string().max(MAX_ITEM_B64 + 64), aad: base64(8192).optional(), keyVersion: z.number().int().min(1).optional() });
export const RewrapBody = z.strictObject({ ciphertext: z.string().max(MAX_ITEM_B64 + 64), aad: base64(8192).optional(), keyVersion: z.number().int().min(1).optional() });
export const DatakeyBody = z.strictObject({ bytes: z.number().int().min(1).max(1024).optional(), aad: base64(8192).optional() });
export const SignItem = z.strictObject({ message: base64(MAX_ITEM_B64), prehashed: z.boolean().optional(), encoding: ENCODING.optional(), context: base64(344).optional() });
export const VerifyItem = z.strictObject({
  message: base64(MAX_ITEM_B64),
  signature: z.string().max(80_000),
  keyVersion: z.number().int().min(1).optional(),
  prehashed: z.boolean().optional(),
  encoding: ENCODING.optional(),
  context: base64(344).optional(),
});
export const HmacItem = z.strictObject({ message: base64(MAX_ITEM_B64) });
export const DecapsulateBody = z.strictObject({ ciphertext: base64(4096), keyVersion: z.number().int().min(1).optional() });
export const RandomBody = z.strictObject({ bytes: z.number().int().min(1).max(1024) });

/** The BYOK wrapping algorithms (engine/crypto/byok.ts). */
export const WrappingAlgorithmSchema = z.enum(WRAPPING_ALGORITHMS);

/**
 * BYOK import: the key's private material wrapped under the server's `algorithm` wrapping key
 * (GET /v1/sys/wrapping-key), base64. Never the material in the clear.
 */
export const KeyImportBody = z
  .strictObject({
    type: z.string().max(64),
    algorithm: WrappingAlgorithmSchema,
    wrappedKey: base64(8192),
    exportable: z.boolean().optional(),
    labels: KeyCreateBody.shape.labels,
    requireLowS: KeyCreateBody.shape.requireLowS,
    /** Keep the identity of a key another Keyward exported (its `keyId` and `keyVersion`), so its `kw:` ciphertexts decrypt here. */
    keyId: z.string().regex(/^key_[0-9a-f]{24}$/, 'expected key_ and 24 lowercase hex characters (the keyId of a key export)').optional(),
    keyVersion: z.number().int().min(1).max(2_147_483_647).optional(),
  })
  .refine((b) => (b.keyId === undefined) === (b.keyVersion === undefined), 'expected keyId and keyVersion together (both from a key export) or neither');

/**
 * Key export: one version (default: the latest) of an `exportable` key's private material, wrapped
 * to the caller's public `wrappingKey` of `algorithm` (PEM/base64 SPKI RSA-3072, or base64 raw
 * ML-KEM-768 / X-Wing): the blob `POST /v1/keys/:name/import` takes.
 */
export const KeyExportBody = z.strictObject({
  algorithm: WrappingAlgorithmSchema,
  wrappingKey: z.string().min(1).max(16_384),
  keyVersion: z.number().int().min(1).max(2_147_483_647).optional(),
});

/** Most items one batch may carry. */
export const MAX_BATCH_ITEMS = 1000;
/** The batch form of an operation body: `{batch: [item, ...]}`, 1..MAX_BATCH_ITEMS items, order preserved. */
export const batchBody = <T extends z.ZodType>(item: T) => z.strictObject({ batch: z.array(item).min(1).max(MAX_BATCH_ITEMS) });
/** An operation body: one item, or its batch form (the routes pick the form by the `batch` field). */
export const batchOf = <T extends z.ZodType>(item: T) => z.union([item, batchBody(item)]);

/** POST /v1/approvals/:id/deny: an optional reason, kept with the approval. */
export const ApprovalDenyBody = z.strictObject({ reason: z.string().max(256).optional() });

/** POST /v1/audit/hash: a known value whose audit HMAC the caller wants to look up. */
export const AuditHashBody = z.strictObject({ value: z.string().min(1).max(4096) });

/** POST /v1/audit/export: a half-open range [from, to) of records (default: everything signed). */
export const AuditExportBody = z.strictObject({
  from: z.number().int().min(0).optional(),
  to: z.number().int().min(0).optional(),
  includeInputs: z.boolean().optional(),
  includeWasm: z.boolean().optional(),
});
