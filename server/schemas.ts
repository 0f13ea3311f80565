/**
 * Request schemas: the single source for validating bodies and for the OpenAPI document
 * (server/openapi.ts), with the query and path parameters the routes read.
 * @module
 */
import { z } from 'zod';
import { decodeBase64, isCanonicalBase64 } from '../lib/bytes.js';
import { HolderPublicKeyFileSchema, SubmissionSchema } from '../ceremony/index.js';
import { APPROVAL_PAGE_MAX, APPROVAL_STATES } from '../engine/approvals/index.js';
import { AUDIT_PAGE_MAX } from '../engine/audit/log/read.js';
import { WRAPPING_ALGORITHMS } from '../engine/crypto/byok.js';
import { KEY_NAME_RE, MAX_LIST_LIMIT } from '../engine/keys/service.js';

/** The characters of base64 (the OpenAPI document's `pattern`; the check below accepts the same). */
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Standard base64 with padding, bounded. The decoder re-checks canonical form and length. Checked
 * by decoding (lib/bytes.ts isCanonicalBase64: a canonical text matches BASE64_CHARS), the regex
 * only for a text that is not canonical: on a 1 KiB item the regex costs three times the decode
 * (issue 14), and this check sits on every data-plane request.
 */
export const base64 = (maxChars: number) =>
  z
    .string()
    .max(maxChars, `expected at most ${maxChars} base64 characters`)
    .refine((s) => isCanonicalBase64(s) || BASE64_CHARS.test(s), 'expected base64 (A-Z a-z 0-9 + / =)')
    .meta({ pattern: BASE64_CHARS.source });

/**
 * A holder's public key file as written by `keyward ceremony holder-keygen` (FILE.pub): the
 * ceremony's own strict schema, so the server accepts exactly the .pub files the CLI accepts.
 */
export const HolderPublicKeyFile = HolderPublicKeyFileSchema;

export const CeremonyBody = z.strictObject({
  holders: z.array(HolderPublicKeyFile).min(1, 'expected at least 1 holder').max(255, 'expected at most 255 holders'),
  threshold: z.number().int('expected an integer').min(1).max(255),
});

/** A holder's shard re-encrypted to the session key: the ceremony's schema, with the nonce's exact form. */
export const SubmissionBody = SubmissionSchema.extend({
  nonce: z.string().regex(/^[0-9a-f]{32}$/, 'expected the 32-hex-character session nonce from seal status'),
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
  hash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters')
    .optional(),
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
  roles: z
    .array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a role of 1-32 characters [a-z0-9_-]'))
    .min(1)
    .max(16),
  ttl: Ttl.optional(),
});

// ---------------------------------------------------------------------------------------------
// Keys and operations. Byte fields are standard base64; bounds keep one request under the body limit.

const MAX_ITEM_B64 = 700_000;
const ENCODING = z.enum(['der', 'p1363']);

/**
 * A key type. Parsed as a bounded string so that an unknown type is answered by the engine's
 * KEY_TYPE_INVALID listing the valid types (engine/crypto/types.ts); the OpenAPI document shows it
 * as the KeyType enum of KEY_TYPES (server/openapi.ts).
 */
export const KeyTypeName = z.string().max(64);

export const KeyCreateBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected 1-128 characters [A-Za-z0-9._-]'),
  type: KeyTypeName,
  exportable: z.boolean().optional(),
  labels: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), z.string().max(256))
    .refine((l) => Object.keys(l).length <= 32, 'expected at most 32 labels')
    .optional(),
  publicKey: z.string().max(16_384).optional(),
  /** ECDSA only: verification rejects high-S signatures (default false: both S forms verify, FIPS 186-5). */
  requireLowS: z.boolean().optional(),
});

export const KeyConfigBody = z
  .strictObject({
    minDecryptionVersion: z.number().int().min(1).optional(),
    deletionAllowed: z.boolean().optional(),
    requireLowS: z.boolean().optional(),
  })
  .refine(
    (b) => b.minDecryptionVersion !== undefined || b.deletionAllowed !== undefined || b.requireLowS !== undefined,
    'expected minDecryptionVersion, deletionAllowed or requireLowS',
  );

export const EncryptItem = z.strictObject({ plaintext: base64(MAX_ITEM_B64), aad: base64(8192).optional() });

/** What {@link base64}(max) accepts, checked as it checks. */
function base64Ok(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && (isCanonicalBase64(v) || BASE64_CHARS.test(v));
}

/** The plaintext bytes {@link encryptItemFast} decoded while checking an item, until the route takes them. */
const decodedPlaintexts = new WeakMap<object, Uint8Array>();

/**
 * Test hook: when set, `seen` is shown every plaintext the hot routes hold (the encrypt routes'
 * decoded items, the decrypt routes' results), each of which they wipe once its request is answered,
 * whatever the answer (test/server/direct.test.ts checks that through both paths).
 */
export const plaintextTap: { seen?: (bytes: Uint8Array) => void } = {};

/** `bytes`, shown to {@link plaintextTap}. */
export function tapped(bytes: Uint8Array): Uint8Array {
  plaintextTap.seen?.(bytes);
  return bytes;
}

/**
 * {@link EncryptItem} without zod for the body it accepts (issue 14: zod's object walk was ~2% of a
 * 1 KiB encrypt): an ordinary object with `plaintext` and at most `aad` besides, each what
 * {@link base64} accepts, gives what `EncryptItem.parse` gives. Anything else gives undefined, and
 * the schema itself then decides, so every refusal keeps zod's words (test/server/schemas-fast.test.ts
 * runs both over the same bodies).
 *
 * The plaintext's check is its strict decode (lib/bytes.ts decodeBase64, what the route decodes it
 * with): when that succeeds, the bytes are kept for {@link takeDecodedPlaintext}, so a 1 KiB
 * plaintext is decoded once rather than twice. The route wipes them whether or not it took them.
 */
export function encryptItemFast(raw: unknown): z.output<typeof EncryptItem> | undefined {
  const shape = plainFields(raw, 'plaintext', 'aad');
  if (shape === undefined) return undefined;
  const { plaintext, aad } = raw as Record<string, unknown>;
  if (typeof plaintext !== 'string' || plaintext.length > MAX_ITEM_B64) return undefined;
  if (shape.optional && !base64Ok(aad, 8192)) return undefined;
  // Canonical (decoded), or base64's characters only (the schema's rule; the route's decode refuses it).
  const decoded = decodeBase64(plaintext);
  if (typeof decoded === 'string' && !BASE64_CHARS.test(plaintext)) return undefined;
  const item: z.output<typeof EncryptItem> = shape.optional ? { plaintext, aad: aad as string } : { plaintext };
  if (typeof decoded !== 'string') decodedPlaintexts.set(item, tapped(decoded));
  return item;
}

/**
 * The shape the hand-written fast checks accept ({@link encryptItemFast}, transit's
 * `encryptBodyFast`): an ordinary object (its prototype Object.prototype) whose enumerable keys are
 * its own `required` and at most `optional` besides. `optional` says whether that one is there;
 * undefined for any other value, which the zod schema then judges.
 */
export function plainFields(raw: unknown, required: string, optional: string): { optional: boolean } | undefined {
  if (typeof raw !== 'object' || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) return undefined;
  let fields = 0;
  for (const k in raw) {
    if (k !== required && k !== optional) return undefined;
    fields++;
  }
  if (!Object.hasOwn(raw, required)) return undefined;
  if (fields === 1) return { optional: false };
  return Object.hasOwn(raw, optional) ? { optional: true } : undefined;
}

/**
 * The plaintext of an item {@link encryptItemFast} gave, decoded as `fromBase64(item.plaintext)`
 * would decode it (once: a second call gives undefined); undefined for any other item.
 */
export function takeDecodedPlaintext(item: object): Uint8Array | undefined {
  const bytes = decodedPlaintexts.get(item);
  decodedPlaintexts.delete(item);
  return bytes;
}

/**
 * `ciphertext` (and verify's `signature`) is `kw:v<N>:<base64>`, which names its key version, or the
 * raw value as standard base64, for `keyVersion` (default: the latest); a `keyVersion` beside a
 * `kw:` value must agree with it. Anything else is a 400 CIPHERTEXT_FORMAT / SIGNATURE_FORMAT
 * (checked by the key service, engine/crypto/format.ts parseVersionedOrRaw). AEAD keys: `aad` is the
 * associated data; RSA keys: the ciphertext is RSA-OAEP-SHA-256 and `aad` the OAEP label.
 */
export const DecryptItem = z.strictObject({
  ciphertext: z.string().max(MAX_ITEM_B64 + 64),
  aad: base64(8192).optional(),
  keyVersion: z.number().int().min(1).optional(),
});
export const RewrapBody = z.strictObject({
  ciphertext: z.string().max(MAX_ITEM_B64 + 64),
  aad: base64(8192).optional(),
  keyVersion: z.number().int().min(1).optional(),
});
export const DatakeyBody = z.strictObject({
  bytes: z.number().int().min(1).max(1024).optional(),
  aad: base64(8192).optional(),
});
export const SignItem = z.strictObject({
  message: base64(MAX_ITEM_B64),
  prehashed: z.boolean().optional(),
  encoding: ENCODING.optional(),
  context: base64(344).optional(),
});
export const VerifyItem = z.strictObject({
  message: base64(MAX_ITEM_B64),
  signature: z.string().max(80_000),
  keyVersion: z.number().int().min(1).optional(),
  prehashed: z.boolean().optional(),
  encoding: ENCODING.optional(),
  context: base64(344).optional(),
});
export const HmacItem = z.strictObject({ message: base64(MAX_ITEM_B64) });
export const DecapsulateBody = z.strictObject({
  ciphertext: base64(4096),
  keyVersion: z.number().int().min(1).optional(),
});
export const RandomBody = z.strictObject({ bytes: z.number().int().min(1).max(1024) });

/** The BYOK wrapping algorithms (engine/crypto/byok.ts). */
export const WrappingAlgorithmSchema = z.enum(WRAPPING_ALGORITHMS);

/**
 * BYOK import: the key's private material wrapped under the server's `algorithm` wrapping key
 * (GET /v1/sys/wrapping-key), base64. Never the material in the clear.
 */
export const KeyImportBody = z
  .strictObject({
    type: KeyTypeName,
    algorithm: WrappingAlgorithmSchema,
    wrappedKey: base64(8192),
    exportable: z.boolean().optional(),
    labels: KeyCreateBody.shape.labels,
    requireLowS: KeyCreateBody.shape.requireLowS,
    /** Keep the identity of a key another Keyward exported (its `keyId` and `keyVersion`), so its `kw:` ciphertexts decrypt here. */
    keyId: z
      .string()
      .regex(/^key_[0-9a-f]{24}$/, 'expected key_ and 24 lowercase hex characters (the keyId of a key export)')
      .optional(),
    keyVersion: z.number().int().min(1).max(2_147_483_647).optional(),
  })
  .refine(
    (b) => (b.keyId === undefined) === (b.keyVersion === undefined),
    'expected keyId and keyVersion together (both from a key export) or neither',
  );

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
export const batchBody = <T extends z.ZodType>(item: T) =>
  z.strictObject({ batch: z.array(item).min(1).max(MAX_BATCH_ITEMS) });
/** An operation body: one item, or its batch form (the routes pick the form by the `batch` field). */
export const batchOf = <T extends z.ZodType>(item: T) => z.union([item, batchBody(item)]);

/** POST /v1/approvals/:id/deny: an optional reason, kept with the approval. */
export const ApprovalDenyBody = z.strictObject({ reason: z.string().max(256).optional() });

/**
 * POST /v1/approvals/:id/execute: the parked request's own body, verbatim (`{}` when it had none);
 * the target route validates it again, and the pipeline checks its digest against the parked one.
 */
export const ExecuteBody = z.record(z.string(), z.unknown());

/** POST /v1/audit/hash: a known value whose audit HMAC the caller wants to look up. */
export const AuditHashBody = z.strictObject({ value: z.string().min(1).max(4096) });

/** POST /v1/audit/export: a half-open range [from, to) of records (default: everything signed). */
export const AuditExportBody = z.strictObject({
  from: z.number().int().min(0).optional(),
  to: z.number().int().min(0).optional(),
  includeInputs: z.boolean().optional(),
  includeWasm: z.boolean().optional(),
});

// ---------------------------------------------------------------------------------------------
// Query parameters: routes read them with parseQuery (server/body.ts), which turns a number field's
// decimal text into a number first; GET /openapi.json documents them from the same objects.

/** What a query parameter was, for messages: quoted and cut short, or how many values it had. */
const got = (input: unknown) =>
  Array.isArray(input) ? `${input.length} values` : input === undefined ? 'nothing' : `"${String(input).slice(0, 20)}"`;
/** An integer query parameter in [min, max] whose every failure reads `expected <expected>, got ...`. */
function queryInt(min: number, max: number | undefined, expected: string) {
  const error = (iss: { input?: unknown }) => `expected ${expected}, got ${got(iss.input)}`;
  const n = z.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? n : n.max(max, { error });
}
function queryEnum<const T extends readonly [string, ...string[]]>(values: T, expected: string) {
  return z.enum(values, { error: (iss) => `expected ${expected}, got ${got(iss.input)}` });
}

/** GET /v1/keys */
export const KeyListQuery = z.strictObject({
  limit: queryInt(1, MAX_LIST_LIMIT, `1 to ${MAX_LIST_LIMIT}`).default(100).describe('keys per page'),
  after: z
    .string({ error: (iss) => `expected one key name, got ${got(iss.input)}` })
    .optional()
    .describe("the previous page's `next`: list keys whose names sort after it"),
});
/** GET /v1/keys/{name}/public */
export const PublicKeyQuery = z.strictObject({
  format: queryEnum(['pem', 'jwk', 'raw'], 'one of pem, jwk or raw')
    .default('pem')
    .describe('SPKI PEM, JWK, or base64 of the raw public key'),
});
/** GET /v1/sys/wrapping-key */
export const WrappingKeyQuery = z.strictObject({
  algorithm: queryEnum(WRAPPING_ALGORITHMS, WRAPPING_ALGORITHMS.join(' or '))
    .default('rsa-oaep-3072-aes-kwp')
    .describe('the wrapping scheme the import will use'),
});

const index = () => queryInt(0, Number.MAX_SAFE_INTEGER, 'a non-negative integer');
/** GET /v1/audit/records: records [from, to), at most `limit` (capped at AUDIT_PAGE_MAX) of them. */
export const AuditRecordsQuery = z.strictObject({
  from: index().default(0).describe('first record index'),
  to: index().optional().describe('one past the last record index (default from + limit)'),
  limit: index().default(AUDIT_PAGE_MAX).describe(`records per page (at most ${AUDIT_PAGE_MAX} are returned)`),
});
/** GET /v1/audit/proofs/inclusion */
export const InclusionProofQuery = z.strictObject({
  index: index().describe('leaf index'),
  size: index().describe('tree size of a signed checkpoint'),
});
/** GET /v1/audit/proofs/consistency */
export const ConsistencyProofQuery = z.strictObject({
  from: index().describe('older tree size (a signed checkpoint)'),
  to: index().describe('newer tree size (a signed checkpoint)'),
});
/** GET /v1/approvals */
export const ApprovalListQuery = z.strictObject({
  state: queryEnum(APPROVAL_STATES, `one of ${APPROVAL_STATES.join(', ')}`)
    .optional()
    .describe('only approvals in this state'),
  limit: queryInt(1, APPROVAL_PAGE_MAX, `1 to ${APPROVAL_PAGE_MAX}`).default(50).describe('approvals per page'),
  after: z
    .string({ error: (iss) => `expected one approval id, got ${got(iss.input)}` })
    .regex(/^apr_[0-9a-f]{32}$/, { error: (iss) => `expected an approval id like apr_<32 hex>, got ${got(iss.input)}` })
    .optional()
    .describe("the previous page's `next`"),
});

/** Path parameters, by name (an `id` differs per route: see the route docs). */
export const KeyNameParam = z.string().regex(KEY_NAME_RE).describe('key name');
export const PolicyHashParam = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('SHA-256 of the policy module, hex');
export const TokenIdParam = z
  .string()
  .regex(/^tok_[0-9a-f]{16}$/)
  .describe('token id');
export const ApprovalIdParam = z
  .string()
  .regex(/^apr_[0-9a-f]{32}$/)
  .describe('approval id');
