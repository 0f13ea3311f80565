/**
 * /v1/transit: HashiCorp Vault's transit secrets engine API (website/content/api-docs/secret/
 * transit.mdx), served over Keyward's key service and the one request pipeline. Each route uses the
 * operation name of its native counterpart (`encrypt`, `key.create`, `key.export`, ...; see
 * server/routes/keys.ts), so the same policies decide, the same audit records are written (with the
 * attribute `api: "vault-transit"`, which policies may read), and dual control parks the same
 * requests. Only the wire format differs (server/transit/: envelope and errors, value formats, key
 * types). What differs from Vault and why: docs/vault-transit.md.
 *
 * Vault's LIST verb cannot reach a Node.js server (its HTTP parser rejects unknown methods with a
 * bare 400 before any JavaScript runs): keys are listed with `GET /v1/transit/keys?list=true`, which
 * is what Vault's Go client sends for LIST anyway (node-vault: `noCustomHTTPVerbs: true`).
 * @module
 */
import { createHash, randomBytes, timingSafeEqual, createPrivateKey } from 'node:crypto';
import Router from '@koa/router';
import type { RouterContext } from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { KeywardError } from '../../lib/errors.js';
import { toBase64 } from '../../lib/bytes.js';
import { MAX_LIST_LIMIT, assertKeyName } from '../../engine/keys/service.js';
import { keyTypeInfo } from '../../engine/crypto/index.js';
import type { KeyType, SignOptions } from '../../engine/crypto/index.js';
import type { KeyRow } from '../../engine/store/index.js';
import { refusedWithoutKey } from '../../engine/hsm.js';
import type { Actions, KeyTarget, Outcome, RequestContext } from '../../engine/hsm.js';
import type { KeyedOperation, Operation } from '../../engine/operations.js';
import type { AppDeps } from '../deps.js';
import { hot } from '../direct.js';
import type { HotContext, HotRouteContext } from '../direct.js';
import { caller } from '../auth.js';
import { logUnhandled } from '../errors.js';
import { readJson, validate } from '../body.js';
import { plainFields, tapped } from '../schemas.js';
import { sendData, sendErrors, sendNoContent, sendParked, sendThrown, vaultStatus } from '../transit/envelope.js';
import { keywardType, readKeyData, vaultPublicKey, vaultTypeName } from '../transit/types.js';
import {
  decodeB64,
  fromJws,
  fromVault,
  parseVault,
  toJws,
  toVault,
  vB64,
  vBool,
  vInt,
  vaultHash,
  VAULT_HASHES,
} from '../transit/values.js';

/** Every transit path starts here (the OpenAPI document leaves them to Vault's own docs). */
export const TRANSIT_PREFIX = '/v1/transit';

const BODY_LIMIT = 8 * 1024 * 1024;
const MAX_ITEM_B64 = 700_000;
const MAX_BATCH = 1000;
/** Vault's cap on /transit/random (128 KiB). */
const MAX_RANDOM = 128 * 1024;
const ATTR = { api: 'vault-transit' } as const;

/** The token: Vault's `X-Vault-Token`, else `Authorization: Bearer`. */
function who(ctx: HotContext) {
  // caller()'s object is fresh: set on it rather than copied (this runs on every transit request).
  const c = caller(ctx);
  const vaultToken = ctx.req.headers['x-vault-token'];
  if (vaultToken) c.bearer = vaultToken as string;
  return c;
}

/** Who asks, as the pipeline takes it; without `origin` a request the policies would park is refused instead. */
type Caller = Omit<ReturnType<typeof who>, 'origin'> & Partial<Pick<ReturnType<typeof who>, 'origin'>>;

const bad = (message: string) => new KeywardError('VALIDATION_FAILED', message);
const unsupported = (message: string) => new KeywardError('OPTION_UNSUPPORTED', message);

/**
 * The JSON body as Vault reads it: whatever the Content-Type (Vault's own examples send JSON with
 * `curl --data @payload.json`, i.e. application/x-www-form-urlencoded). Kept in ctx.state.json for
 * parking and approval execution, as parseBody does.
 */
async function rawBody(ctx: HotContext): Promise<Record<string, unknown>> {
  let raw = ctx.state.json;
  if (raw === undefined) {
    delete ctx.req.headers['content-type'];
    raw = await readJson(ctx, BODY_LIMIT);
    ctx.state.json = raw;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw bad('expected a JSON object as the request body');
  return raw as Record<string, unknown>;
}

/** Validates `raw` against `schema`; fields the schema doesn't know become Vault's warning. */
function parse<S extends z.ZodObject>(raw: Record<string, unknown>, schema: S, warnings?: string[]): z.output<S> {
  const data = validate(schema, raw);
  const unknown = Object.keys(raw).filter((k) => !(k in schema.shape));
  if (warnings && unknown.length)
    warnings.push(`Endpoint ignored these unrecognized parameters: [${unknown.map((k) => k.slice(0, 40)).join(' ')}]`);
  return data;
}

/** Refuses a Vault option Keyward doesn't implement when it is set to anything but its default. */
function refuseSet(value: unknown, field: string, why: string): void {
  if (value === undefined || value === '' || value === false || value === 0 || value === '0' || value === '0s') return;
  throw unsupported(`${field}: ${why}`);
}

const NO_DERIVATION =
  'key derivation (derived keys) is not supported by Keyward; authenticate the context as associated_data instead';
const NO_CONVERGENT = 'convergent encryption is not supported by Keyward';

// Item and body schemas (Vault field names; unknown fields are ignored with a warning, as Vault does).
const EncryptItem = z.object({
  plaintext: vB64(MAX_ITEM_B64).optional(),
  context: z.string().max(4096).optional(),
  associated_data: vB64(8192).optional(),
  nonce: z.string().max(64).optional(),
  key_version: vInt.optional(),
  reference: z.string().max(256).optional(),
});
/**
 * What `EncryptBody` and `EncryptItem` both give the usual single encrypt's body, without zod (issue
 * 14: two object walks of a dozen fields per request): an ordinary object of `plaintext` and at most
 * `associated_data`, strings within their bounds, parses to a copy of itself with no warning.
 * Anything else is undefined, and the schemas decide (test/server/schemas-fast.test.ts runs both).
 */
export function encryptBodyFast(
  raw: Record<string, unknown>,
): { plaintext: string; associated_data?: string } | undefined {
  const shape = plainFields(raw, 'plaintext', 'associated_data');
  if (shape === undefined) return undefined;
  const { plaintext, associated_data } = raw;
  if (typeof plaintext !== 'string' || plaintext.length > MAX_ITEM_B64) return undefined;
  if (!shape.optional) return { plaintext };
  if (typeof associated_data !== 'string' || associated_data.length > 8192) return undefined;
  return { plaintext, associated_data };
}

const DecryptItem = z.object({
  ciphertext: z
    .string()
    .max(MAX_ITEM_B64 + 64)
    .optional(),
  context: z.string().max(4096).optional(),
  associated_data: vB64(8192).optional(),
  nonce: z.string().max(64).optional(),
  key_version: vInt.optional(),
  reference: z.string().max(256).optional(),
});
const BatchFields = {
  batch_input: z.array(z.unknown()).max(MAX_BATCH, `expected at most ${MAX_BATCH} items`).optional(),
  partial_failure_response_code: vInt.optional(),
};
const EncryptBody = EncryptItem.extend({
  ...BatchFields,
  type: z.string().max(64).optional(),
  convergent_encryption: vBool.optional(),
});
/** The encrypt route's schemas, for the test of {@link encryptBodyFast}. */
export const transitEncryptSchemas = { body: EncryptBody, item: EncryptItem };
const DecryptBody = DecryptItem.extend({ ...BatchFields, padding_scheme: z.string().max(20).optional() });
const RewrapBody = DecryptItem.extend({
  ...BatchFields,
  decrypt_padding_scheme: z.string().optional(),
  encrypt_padding_scheme: z.string().optional(),
});
const SignItem = z.object({
  input: vB64(MAX_ITEM_B64).optional(),
  context: z.string().max(4096).optional(),
  reference: z.string().max(256).optional(),
});
const VerifyItem = SignItem.extend({
  signature: z.string().max(80_000).optional(),
  hmac: z.string().max(1024).optional(),
  cmac: z.string().max(1024).optional(),
});
const SignOpts = {
  key_version: vInt.optional(),
  hash_algorithm: z.string().max(20).optional(),
  algorithm: z.string().max(20).optional(),
  prehashed: vBool.optional(),
  signature_algorithm: z.enum(['pss', 'pkcs1v15']).optional(),
  marshaling_algorithm: z.enum(['asn1', 'jws']).optional(),
  salt_length: z.union([z.string().max(10), z.number().int()]).optional(),
  signature_context: vB64(344).optional(),
  ...BatchFields,
};
const SignBody = SignItem.extend(SignOpts);
const VerifyBody = VerifyItem.extend(SignOpts);
const HmacItem = z.object({ input: vB64(MAX_ITEM_B64).optional(), reference: z.string().max(256).optional() });
const HmacBody = HmacItem.extend({
  key_version: vInt.optional(),
  algorithm: z.string().max(20).optional(),
  ...BatchFields,
});
const KeyCreateBody = z.object({
  type: z.string().max(64).optional(),
  exportable: vBool.optional(),
  derived: vBool.optional(),
  convergent_encryption: vBool.optional(),
  allow_plaintext_backup: vBool.optional(),
  auto_rotate_period: z.union([z.string().max(20), z.number()]).optional(),
  key_size: vInt.optional(),
  managed_key_name: z.string().optional(),
  managed_key_id: z.string().optional(),
  context: z.string().optional(),
});
const KeyConfigBody = z.object({
  min_decryption_version: vInt.optional(),
  min_encryption_version: vInt.optional(),
  deletion_allowed: vBool.optional(),
  exportable: vBool.optional(),
  allow_plaintext_backup: vBool.optional(),
  auto_rotate_period: z.union([z.string().max(20), z.number()]).optional(),
});
const DatakeyBody = z.object({
  context: z.string().max(4096).optional(),
  nonce: z.string().max(64).optional(),
  bits: vInt.optional(),
  associated_data: vB64(8192).optional(),
  padding_scheme: z.string().optional(),
});
const RandomBody = z.object({
  bytes: vInt.optional(),
  format: z.enum(['base64', 'hex']).optional(),
  source: z.string().max(20).optional(),
});
const HashBody = z.object({
  input: vB64(MAX_ITEM_B64),
  algorithm: z.string().max(20).optional(),
  format: z.enum(['hex', 'base64']).optional(),
});

/** RSA padding: Keyward decrypts with OAEP (SHA-256) only; PKCS#1 v1.5 encryption is refused. */
function oaepOnly(value: string | undefined, field: string): void {
  if (value !== undefined && value !== '' && value !== 'oaep')
    throw unsupported(`${field}: Keyward's RSA keys decrypt with OAEP (SHA-256) only; got "${value.slice(0, 20)}"`);
}

/** The version a ciphertext names (syntax only), for the policy input; undefined when it names none. */
function policyVersion(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(?:vault|kw):v([1-9][0-9]{0,9}):/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Decoded size of a base64 field, for the policy input's payloadBytes. A batch item is checked only
 * when it runs: a field of another type here counts 0 (NaN made the audit record invalid: a 500).
 */
const b64Size = (s: unknown) => (typeof s === 'string' ? Math.floor((s.length * 3) / 4) : 0);

/** One batch result's error, Vault style: the message of an error the table knows, else "internal error". */
function itemError(err: unknown): { error: string } {
  if (err instanceof KeywardError && vaultStatus(err.code) !== undefined) return { error: err.message };
  return { error: 'internal error' };
}

/** The items of a one-or-batch request: `batch_input` wins over the top-level fields, as in Vault. */
function itemsOf(body: Record<string, unknown>, batch: unknown[] | undefined): { items: unknown[]; batch: boolean } {
  if (batch !== undefined) {
    if (batch.length === 0) throw bad('batch_input: expected at least 1 item');
    return { items: batch, batch: true };
  }
  return { items: [body], batch: false };
}

/** `key_version` of an operation that always uses the latest version here: only 0 or the latest. */
function latestOnly(row: KeyRow, v: number | undefined, what: string): void {
  if (v === undefined || v === 0 || v === row.latestVersion) return;
  throw unsupported(`key_version: Keyward ${what} with the latest version (${row.latestVersion}) only; got ${v}`);
}

/** Answers a request that ran with `send`, and a parked one with Vault's 403 naming the approval. */
type Done = <T>(out: Outcome<T>, send: (value: T) => void) => void;

export function transitRoutes(deps: AppDeps): Router {
  const { hsm, log } = deps;
  const r = new Router();

  /** Registers a handler whose every failure is answered in Vault's error format. */
  function route(
    method: 'get' | 'post' | 'delete',
    path: string,
    operation: Operation,
    fn: (ctx: RouterContext, done: Done) => Promise<void>,
  ): void {
    r[method](TRANSIT_PREFIX + path, vaultErrors(operation, fn));
  }

  /** {@link route} for a POST the direct path runs (server/direct.ts): its handler sees only what that path provides. */
  function hotRoute(path: string, operation: Operation, fn: (ctx: HotRouteContext, done: Done) => Promise<void>): void {
    r.post(TRANSIT_PREFIX + path, hot(vaultErrors(operation, fn)));
  }

  function vaultErrors<C extends HotContext>(operation: Operation, fn: (ctx: C, done: Done) => Promise<void>) {
    return async (ctx: C): Promise<void> => {
      const done: Done = (out, send) =>
        out.kind === 'parked' ? sendParked(ctx, operation, out.approval) : send(out.value);
      try {
        await fn(ctx, done);
      } catch (err) {
        sendThrown(ctx, err, log);
      }
    };
  }

  /**
   * The pipeline context of a request on the key named in the path: the pipeline loads it after
   * authentication and decides with it. What can't run whatever approvals it gathers is refused by
   * `precheck` once the policies have not denied, before parking: approvers are never asked.
   */
  function keyed(
    ctx: HotRouteContext,
    operation: KeyedOperation,
    opts: Omit<KeyTarget, 'name'> & Pick<RequestContext, 'payloadBytes' | 'attributes' | 'precheck'> = {},
  ): RequestContext & { key: KeyTarget } {
    const { anyState, version, attributes, ...rest } = opts;
    const key: KeyTarget = { name: ctx.params.name as string };
    if (anyState) key.anyState = anyState;
    if (version) key.version = version;
    // Added to who()'s fresh object, not spread into a new one: this runs on every keyed request.
    return Object.assign(who(ctx), { operation, attributes: { ...ATTR, ...attributes } }, rest, { key });
  }

  /**
   * Runs a one-or-batch operation's items; a failed item is `{error}` in its place. Returns the
   * results and whether any failed.
   */
  async function runItems(
    ctx: HotContext,
    items: unknown[],
    batch: boolean,
    run: (item: unknown) => Promise<Record<string, unknown>>,
  ): Promise<{ results: Record<string, unknown>[]; failed: number }> {
    if (!batch) return { results: [await run(items[0])], failed: 0 };
    const results: Record<string, unknown>[] = [];
    let failed = 0;
    for (const item of items) {
      const reference =
        typeof item === 'object' && item !== null && typeof (item as { reference?: unknown }).reference === 'string'
          ? (item as { reference: string }).reference
          : undefined;
      try {
        results.push({ ...(await run(item)), ...(reference !== undefined ? { reference } : {}) });
      } catch (err) {
        failed++;
        if (!(err instanceof KeywardError && vaultStatus(err.code) !== undefined))
          // With the request's id, as every other line of it carries (the item is answered, the request goes on).
          logUnhandled(ctx, err, log, 'unhandled error in a batch item');
        results.push({ ...itemError(err), ...(reference !== undefined ? { reference } : {}) });
      }
    }
    return { results, failed };
  }

  /**
   * Sends one result, or `batch_results` with Vault's batch status (vault/builtin/logical/transit
   * batchRequestResponse): a batch with a failed item is a 400 that still carries every result, or
   * `partial_failure_response_code` when some item succeeded.
   */
  function sendResults(
    ctx: HotContext,
    out: { results: Record<string, unknown>[]; failed: number },
    batch: boolean,
    warnings: string[],
    partialCode?: number,
  ): void {
    if (!batch) return sendData(ctx, out.results[0]!, warnings);
    sendData(ctx, { batch_results: out.results }, warnings);
    if (out.failed > 0)
      ctx.status =
        out.failed === out.results.length
          ? 400
          : partialCode && partialCode >= 200 && partialCode <= 599
            ? partialCode
            : 400;
  }

  /** Creates key `name` (operation `key.create`); an existing key of the same type is returned as is (Vault's upsert). */
  async function createKey(from: Caller, name: string, typeName: string, exportable: boolean | undefined) {
    // Before the request is recorded: a name too long for an audit record was a 500.
    assertKeyName(name);
    const type = keywardType(typeName);
    return hsm.request(
      {
        ...from,
        operation: 'key.create',
        newKey: { name, type, version: 1, labels: {} },
        attributes: { ...ATTR, verifyOnly: 'false' },
      },
      async (a) => {
        try {
          return await a.createKey({ name, type, ...(exportable !== undefined ? { exportable } : {}) });
        } catch (err) {
          if (!(err instanceof KeywardError && err.code === 'KEY_EXISTS')) throw err;
          const info = await a.keyInfo(name);
          if (info.type !== type)
            throw new KeywardError(
              'KEY_EXISTS',
              `a key named "${name}" already exists with type ${vaultTypeName(info.type)}, not ${typeName}`,
            );
          return info;
        }
      },
    );
  }

  /**
   * Vault's upsert: an encrypt to a missing key, decided whole before anything is written. Vault makes
   * one ACL check (the `create` capability on the encrypt path: transit.mdx, "Encrypt data") before
   * its handler creates the key and encrypts; here the two operations are decided in turn, and the
   * key is created only once both allowed it, so a caller refused either creates nothing. The
   * request is the encrypt on the key to be (`newKey`: version 1, no labels, what the created key
   * will be), parked like any encrypt when the policies ask; inside it, `key.create` is its own
   * request, decided and recorded with the key's creation. That one is never parked (no origin to
   * repeat): a creation that needs approvals is APPROVAL_REQUIRED, and the key is made with
   * `POST /v1/transit/keys/:name` first. Then the items are encrypted with the created key.
   */
  async function upsert<T>(
    ctx: HotRouteContext,
    typeName: string,
    payloadBytes: number,
    attributes: Record<string, string>,
    encrypt: (a: Actions<KeyRow>) => Promise<T>,
  ): Promise<Outcome<T>> {
    const name = ctx.params.name as string;
    assertKeyName(name);
    const type = keywardType(typeName);
    return hsm.request(
      {
        ...who(ctx),
        operation: 'encrypt',
        newKey: { name, type, version: 1, labels: {} },
        payloadBytes,
        attributes: { ...ATTR, ...attributes },
      },
      async (a) => {
        const { origin: _origin, approval: _approval, ...plain } = who(ctx);
        const created = await createKey(plain, name, typeName, undefined);
        // Unreachable without an origin (the pipeline refuses to park it), kept for the types.
        if (created.kind === 'parked') throw new KeywardError('APPROVAL_REQUIRED', 'key.create needs approvals');
        return encrypt(await a.onCreatedKey(name));
      },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Keys

  route('post', '/keys/:name', 'key.create', async (ctx, done) => {
    const warnings: string[] = [];
    const body = parse(await rawBody(ctx), KeyCreateBody, warnings);
    refuseSet(body.derived, 'derived', NO_DERIVATION);
    refuseSet(body.convergent_encryption, 'convergent_encryption', NO_CONVERGENT);
    refuseSet(body.allow_plaintext_backup, 'allow_plaintext_backup', 'Keyward has no plaintext key backup');
    refuseSet(
      body.auto_rotate_period,
      'auto_rotate_period',
      'automatic rotation is not supported; rotate with POST /v1/transit/keys/:name/rotate',
    );
    refuseSet(body.managed_key_name || body.managed_key_id, 'managed_key_name', 'Keyward has no managed keys');
    refuseSet(body.context, 'context', NO_DERIVATION);
    const typeName = body.type ?? 'aes256-gcm96';
    if (
      body.key_size !== undefined &&
      body.key_size !== 0 &&
      !(keywardType(typeName) === 'hmac-sha256' && body.key_size === 32)
    ) {
      throw unsupported(`key_size: Keyward keys have a fixed size (hmac keys: 32 bytes); got ${body.key_size}`);
    }
    done(await createKey(who(ctx), ctx.params.name as string, typeName, body.exportable), (info) =>
      sendData(ctx, readKeyData(info), warnings),
    );
  });

  // Vault's import takes either wrapped private material (its BYOK format, made for its own 4096-bit
  // wrapping key) or a public key. Public keys become verify-only keys, as POST /v1/keys with
  // publicKey; wrapped material goes through Keyward's BYOK (POST /v1/keys/:name/import).
  route('post', '/keys/:name/import', 'key.create', async (ctx, done) => {
    const warnings: string[] = [];
    const body = parse(
      await rawBody(ctx),
      z.object({
        type: z.string().max(64),
        public_key: z.string().max(16_384).optional(),
        ciphertext: z.string().optional(),
        hash_function: z.string().optional(),
        exportable: vBool.optional(),
        derived: vBool.optional(),
        allow_rotation: vBool.optional(),
      }),
      warnings,
    );
    if (body.ciphertext !== undefined)
      throw unsupported(
        "ciphertext: Vault's BYOK format is not accepted here; import wrapped material with POST /v1/keys/:name/import (GET /v1/sys/wrapping-key gives the wrapping key)",
      );
    if (body.public_key === undefined) throw bad('missing public_key (or ciphertext)');
    refuseSet(body.derived, 'derived', NO_DERIVATION);
    refuseSet(body.allow_rotation, 'allow_rotation', 'a verify-only key holds no private half to rotate');
    const name = ctx.params.name as string;
    const type = keywardType(body.type);
    const publicKey = body.public_key;
    const out = await hsm.request(
      {
        ...who(ctx),
        operation: 'key.create',
        newKey: { name, type, version: 1, labels: {} },
        attributes: { ...ATTR, verifyOnly: 'true' },
      },
      (a) => a.createKey({ name, type, publicKey }),
    );
    done(out, (info) => sendData(ctx, readKeyData(info), warnings));
  });

  route('get', '/keys/:name', 'key.read', async (ctx, done) => {
    done(await hsm.request(keyed(ctx, 'key.read', { anyState: true }), (a) => a.keyInfo()), (info) =>
      sendData(ctx, readKeyData(info)),
    );
  });

  route('get', '/keys', 'key.list', async (ctx, done) => {
    const list = ctx.query.list;
    if (list !== 'true' && list !== '1')
      throw new KeywardError(
        'METHOD_NOT_ALLOWED',
        'unsupported operation: list keys with LIST, or GET with ?list=true',
      );
    const out = await hsm.request({ ...who(ctx), operation: 'key.list', attributes: { ...ATTR } }, async (a) => {
      const out: string[] = [];
      let after: string | undefined;
      // A Vault list is one answer: gather the pages (bounded: 100 pages of MAX_LIST_LIMIT).
      for (let page = 0; page < 100; page++) {
        const res = await a.listKeys({ limit: MAX_LIST_LIMIT, after });
        out.push(...res.keys.map((k) => k.name));
        if (!res.next) break;
        after = res.next;
      }
      return out;
    });
    // Vault answers an empty list with 404 and no errors; its clients read that as "no keys".
    done(out, (names) => (names.length === 0 ? sendErrors(ctx, 404, []) : sendData(ctx, { keys: names })));
  });

  route('delete', '/keys/:name', 'key.delete', async (ctx, done) => {
    const precheck = (row: KeyRow | undefined) => {
      if (!row!.deletionAllowed)
        throw new KeywardError(
          'KEY_DELETION_NOT_ALLOWED',
          `deletion is not allowed for key "${row!.name}"; set deletion_allowed with POST /v1/transit/keys/${row!.name}/config first`,
        );
    };
    done(await hsm.request(keyed(ctx, 'key.delete', { anyState: true, precheck }), (a) => a.scheduleDeletion()), () =>
      sendNoContent(ctx),
    );
  });

  route('post', '/keys/:name/config', 'key.config', async (ctx, done) => {
    const warnings: string[] = [];
    const body = parse(await rawBody(ctx), KeyConfigBody, warnings);
    refuseSet(
      body.min_encryption_version,
      'min_encryption_version',
      'Keyward always encrypts and signs with the latest version',
    );
    refuseSet(body.exportable, 'exportable', 'a Keyward key is made exportable at creation only');
    refuseSet(body.allow_plaintext_backup, 'allow_plaintext_backup', 'Keyward has no plaintext key backup');
    refuseSet(body.auto_rotate_period, 'auto_rotate_period', 'automatic rotation is not supported');
    if (body.min_decryption_version !== undefined && body.min_decryption_version < 0)
      throw bad('min_decryption_version: expected 0 or more');
    // Vault: 0 leaves the minimum decryption version unchanged.
    const cfg = {
      ...(body.min_decryption_version ? { minDecryptionVersion: body.min_decryption_version } : {}),
      ...(body.deletion_allowed !== undefined ? { deletionAllowed: body.deletion_allowed } : {}),
    };
    const attributes = Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, String(v)]));
    const out = await hsm.request(keyed(ctx, 'key.config', { anyState: true, attributes }), (a) =>
      Object.keys(cfg).length ? a.configureKey(cfg) : a.keyInfo(),
    );
    done(out, (info) => sendData(ctx, readKeyData(info), warnings));
  });

  route('post', '/keys/:name/rotate', 'key.rotate', async (ctx, done) => {
    const warnings: string[] = [];
    parse(await rawBody(ctx), z.object({}), warnings);
    done(await hsm.request(keyed(ctx, 'key.rotate'), (a) => a.rotateKey()), (info) =>
      sendData(ctx, readKeyData(info), warnings),
    );
  });

  // ---------------------------------------------------------------------------------------------
  // Export. `public-key` is the public half (operation `key.public`, as GET /v1/keys/:name/public);
  // the private kinds are `key.export`, which the default policy puts under dual control.

  const EXPORT_KINDS: Record<string, (t: KeyType) => boolean> = {
    'encryption-key': (t) => keyTypeInfo(t).family === 'aead',
    'signing-key': (t) => keyTypeInfo(t).family === 'signature',
    'hmac-key': (t) => keyTypeInfo(t).family === 'mac',
  };

  const exportHandler = async (ctx: RouterContext, done: Done) => {
    const kind = ctx.params.key_type as string;
    const versionText = ctx.params.version as string | undefined;
    if (kind !== 'public-key' && !EXPORT_KINDS[kind]) {
      throw bad(
        `key_type: expected encryption-key, signing-key, hmac-key or public-key, got "${kind.slice(0, 30)}"${kind === 'certificate-chain' ? ' (Keyward keeps no certificate chains)' : ''}`,
      );
    }
    const versionsOf = (row: KeyRow): number[] => {
      if (versionText === undefined || versionText === '') {
        const all: number[] = [];
        for (let v = Math.max(1, row.minDecryptionVersion); v <= row.latestVersion; v++) all.push(v);
        return all;
      }
      const v =
        versionText === 'latest' ? row.latestVersion : /^[1-9]\d{0,9}$/.test(versionText) ? Number(versionText) : NaN;
      if (!Number.isSafeInteger(v) || v < row.minDecryptionVersion || v > row.latestVersion)
        throw bad(`version: expected "latest" or a version from ${row.minDecryptionVersion} to ${row.latestVersion}`);
      return [v];
    };
    if (kind === 'public-key') {
      const keys = await hsm.request(keyed(ctx, 'key.public', { attributes: { export: kind } }), async (a) => {
        const row = a.key;
        const type = row.type;
        if (!keyTypeInfo(type).asymmetric)
          throw new KeywardError('KEY_TYPE_MISMATCH', `a ${vaultTypeName(type)} key has no public key`);
        const info = await a.keyInfo();
        const out: Record<string, string> = {};
        for (const v of versionsOf(row)) out[String(v)] = vaultPublicKey(type, publicB64(info, v));
        return { name: row.name, type: vaultTypeName(type), keys: out };
      });
      return done(keys, (data) => sendData(ctx, data));
    }
    const fits = EXPORT_KINDS[kind]!;
    const precheck = (row: KeyRow | undefined) => {
      hsm.assertExportable(row!);
      if (!fits(row!.type))
        throw new KeywardError('OPERATION_UNSUPPORTED', `a ${vaultTypeName(row!.type)} key has no ${kind}`);
      versionsOf(row!);
    };
    const data = await hsm.request(
      keyed(ctx, 'key.export', { attributes: { export: kind, wrapped: 'false' }, precheck }),
      async (a) => {
        const row = a.key;
        const out: Record<string, string> = {};
        for (const v of versionsOf(row)) {
          const material = await a.exportMaterial(v);
          try {
            out[String(v)] = vaultPrivateKey(row.type, material);
          } finally {
            material.fill(0);
          }
        }
        return { name: row.name, type: vaultTypeName(row.type), keys: out };
      },
    );
    done(data, (d) => sendData(ctx, d));
  };
  route('get', '/export/:key_type/:name', 'key.export', exportHandler);
  route('get', '/export/:key_type/:name/:version', 'key.export', exportHandler);

  // ---------------------------------------------------------------------------------------------
  // Encrypt, decrypt, rewrap, datakey

  hotRoute('/encrypt/:name', 'encrypt', async (ctx, done) => {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    // The usual body (one plaintext) parses without zod to what both schemas give it.
    const fast = encryptBodyFast(raw);
    const body: z.output<typeof EncryptBody> = fast ?? parse(raw, EncryptBody, warnings);
    refuseSet(body.convergent_encryption, 'convergent_encryption', NO_CONVERGENT);
    const { items, batch } = itemsOf(raw, body.batch_input);
    const payload = items.reduce((n: number, i) => n + b64Size((i as { plaintext?: string })?.plaintext), 0);
    const checkItem = (item: unknown) => {
      const i = fast && item === raw ? { ...fast } : parse(item as Record<string, unknown>, EncryptItem);
      if (i.plaintext === undefined) throw bad('missing plaintext to encrypt');
      return i as typeof i & { plaintext: string };
    };
    /** The checks run() makes of an item before encrypting it, the base64 decoding included. */
    const preflight = (item: unknown) => {
      const i = checkItem(item);
      refuseSet(i.context, 'context', NO_DERIVATION);
      refuseSet(i.nonce, 'nonce', NO_CONVERGENT);
      tapped(decodeB64(i.plaintext, 'plaintext')).fill(0);
      if (i.associated_data) decodeB64(i.associated_data, 'associated_data');
    };
    /** Encrypts every item with the key `a` acts on (the one loaded, or the one the upsert created). */
    const encryptItems = (a: Actions<KeyRow>) =>
      runItems(ctx, items, batch, async (item) => {
        const i = checkItem(item);
        refuseSet(i.context, 'context', NO_DERIVATION);
        refuseSet(i.nonce, 'nonce', NO_CONVERGENT);
        latestOnly(a.key, i.key_version, 'encrypts');
        const plaintext = tapped(decodeB64(i.plaintext, 'plaintext'));
        try {
          const res = await a.encrypt(
            plaintext,
            i.associated_data ? decodeB64(i.associated_data, 'associated_data') : undefined,
          );
          return { ciphertext: toVault(res.ciphertext), key_version: res.keyVersion };
        } finally {
          plaintext.fill(0);
        }
      });
    const attributes: Record<string, string> = batch ? { batch: String(items.length) } : {};
    const run = () => hsm.request(keyed(ctx, 'encrypt', { payloadBytes: payload, attributes }), encryptItems);
    let out;
    try {
      out = await run();
    } catch (err) {
      // Vault's upsert: encrypting to a missing key creates it (if the policies allow key.create).
      // A refusal on the missing key may be for want of its attributes (a policy on its name or
      // labels): the upsert decides the encrypt again, on the key to be.
      if (!(err instanceof KeywardError && (err.code === 'KEY_NOT_FOUND' || refusedWithoutKey(err)))) throw err;
      // Vault checks the input before its upsert: a request with no item to encrypt creates no key
      // (a single item's own error is the answer, but not to a caller refused: that would tell them
      // the key is missing).
      if (!batch) {
        if (err.code === 'KEY_NOT_FOUND') preflight(items[0]);
        else
          try {
            preflight(items[0]);
          } catch {
            throw err;
          }
      } else if (
        !items.some((item) => {
          try {
            preflight(item);
            return true;
          } catch {
            return false;
          }
        })
      )
        throw err;
      out = await upsert(ctx, body.type ?? 'aes256-gcm96', payload, attributes, encryptItems);
    }
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  });

  hotRoute('/decrypt/:name', 'decrypt', async (ctx, done) => {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    const body = parse(raw, DecryptBody, warnings);
    const { items, batch } = itemsOf(raw, body.batch_input);
    oaepOnly(body.padding_scheme, 'padding_scheme');
    const first = batch ? undefined : (items[0] as { ciphertext?: unknown }).ciphertext;
    const out = await hsm.request(
      keyed(ctx, 'decrypt', {
        payloadBytes: items.reduce(
          (n: number, i) => n + String((i as { ciphertext?: string })?.ciphertext ?? '').length,
          0,
        ),
        attributes: batch ? { batch: String(items.length) } : {},
        version: () => policyVersion(first),
      }),
      (a) =>
        runItems(ctx, items, batch, async (item) => {
          const i = parse(item as Record<string, unknown>, DecryptItem);
          if (i.ciphertext === undefined) throw bad('missing ciphertext to decrypt');
          refuseSet(i.context, 'context', NO_DERIVATION);
          refuseSet(i.nonce, 'nonce', NO_CONVERGENT);
          const plaintext = tapped(
            await a.decrypt(
              fromVault(i.ciphertext, 'ciphertext'),
              i.associated_data ? decodeB64(i.associated_data, 'associated_data') : undefined,
            ),
          );
          try {
            return { plaintext: toBase64(plaintext) };
          } finally {
            plaintext.fill(0);
          }
        }),
    );
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  });

  route('post', '/rewrap/:name', 'rewrap', async (ctx, done) => {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    const body = parse(raw, RewrapBody, warnings);
    oaepOnly(body.decrypt_padding_scheme, 'decrypt_padding_scheme');
    oaepOnly(body.encrypt_padding_scheme, 'encrypt_padding_scheme');
    const { items, batch } = itemsOf(raw, body.batch_input);
    const out = await hsm.request(
      keyed(ctx, 'rewrap', {
        payloadBytes: items.reduce(
          (n: number, i) => n + String((i as { ciphertext?: string })?.ciphertext ?? '').length,
          0,
        ),
        attributes: batch ? { batch: String(items.length) } : {},
        version: () => (batch ? undefined : policyVersion((items[0] as { ciphertext?: unknown }).ciphertext)),
      }),
      (a) =>
        runItems(ctx, items, batch, async (item) => {
          const i = parse(item as Record<string, unknown>, DecryptItem);
          if (i.ciphertext === undefined) throw bad('missing ciphertext to rewrap');
          refuseSet(i.context, 'context', NO_DERIVATION);
          refuseSet(i.nonce, 'nonce', NO_CONVERGENT);
          latestOnly(a.key, i.key_version, 'rewraps');
          const res = await a.rewrap(
            fromVault(i.ciphertext, 'ciphertext'),
            i.associated_data ? decodeB64(i.associated_data, 'associated_data') : undefined,
          );
          return { ciphertext: toVault(res.ciphertext), key_version: res.keyVersion };
        }),
    );
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  });

  route('post', '/datakey/:plaintext/:name', 'datakey', async (ctx, done) => {
    const kind = ctx.params.plaintext as string;
    if (kind !== 'plaintext' && kind !== 'wrapped')
      throw bad(`type: expected plaintext or wrapped, got "${kind.slice(0, 20)}"`);
    const warnings: string[] = [];
    const body = parse(await rawBody(ctx), DatakeyBody, warnings);
    refuseSet(body.context, 'context', NO_DERIVATION);
    refuseSet(body.nonce, 'nonce', NO_CONVERGENT);
    oaepOnly(body.padding_scheme, 'padding_scheme');
    const bits = body.bits ?? 256;
    if (bits !== 128 && bits !== 256 && bits !== 512) throw bad(`bits: expected 128, 256 or 512, got ${bits}`);
    const data = await hsm.request(
      keyed(ctx, 'datakey', { payloadBytes: bits / 8, attributes: { datakey: kind } }),
      async (a) => {
        const d = await a.datakey(
          bits / 8,
          body.associated_data ? decodeB64(body.associated_data, 'associated_data') : undefined,
        );
        try {
          return {
            ciphertext: toVault(d.ciphertext),
            key_version: d.keyVersion,
            ...(kind === 'plaintext' ? { plaintext: toBase64(d.plaintext) } : {}),
          };
        } finally {
          d.plaintext.fill(0);
        }
      },
    );
    done(data, (d) => sendData(ctx, d, warnings));
  });

  // ---------------------------------------------------------------------------------------------
  // Sign, verify, hmac

  /** Engine options for a Vault sign/verify body on a key of `type`. */
  function signOptions(
    type: KeyType,
    body: z.output<typeof SignBody>,
    urlHash: string | undefined,
  ): { opts: SignOptions; jws: boolean } {
    const hashName = urlHash ?? body.hash_algorithm ?? body.algorithm;
    const ecdsa = type === 'ecdsa-p256' || type === 'ecdsa-p384';
    const rsa = type === 'rsa-3072' || type === 'rsa-4096';
    const opts: { -readonly [K in keyof SignOptions]: SignOptions[K] } = {};
    if (ecdsa || rsa) opts.hash = vaultHash(hashName ?? 'sha2-256');
    else if (hashName !== undefined && hashName !== 'sha2-256')
      throw unsupported(`hash_algorithm: a ${vaultTypeName(type)} key signs with its own hash; omit hash_algorithm`);
    if (body.prehashed) opts.prehashed = true;
    if (rsa) {
      opts.rsaPadding = body.signature_algorithm ?? 'pss';
      if (opts.rsaPadding === 'pss') {
        const s = body.salt_length ?? 'auto';
        opts.pssSaltLength =
          s === 'auto' || s === 'hash' ? s : typeof s === 'number' ? s : /^\d{1,4}$/.test(s) ? Number(s) : NaN;
        if (Number.isNaN(opts.pssSaltLength))
          throw bad(`salt_length: expected auto, hash or an integer, got "${String(s).slice(0, 10)}"`);
      }
    }
    const jws = body.marshaling_algorithm === 'jws';
    if (ecdsa && jws) opts.encoding = 'p1363';
    if (body.signature_context !== undefined) opts.context = decodeB64(body.signature_context, 'signature_context');
    return { opts, jws: ecdsa && jws };
  }

  hotRoute('/sign/:name', 'sign', signHandler);
  route('post', '/sign/:name/:hash_algorithm', 'sign', signHandler);
  async function signHandler(ctx: HotRouteContext, done: Done): Promise<void> {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    const body = parse(raw, SignBody, warnings);
    const { items, batch } = itemsOf(raw, body.batch_input);
    const out = await hsm.request(
      keyed(ctx, 'sign', {
        payloadBytes: items.reduce((n: number, i) => n + b64Size((i as { input?: string })?.input), 0),
        attributes: batch ? { batch: String(items.length) } : {},
      }),
      async (a) => {
        const row = a.key;
        latestOnly(row, body.key_version, 'signs');
        const { opts, jws } = signOptions(row.type, body, ctx.params.hash_algorithm as string | undefined);
        return runItems(ctx, items, batch, async (item) => {
          const i = parse(item as Record<string, unknown>, SignItem);
          if (i.input === undefined) throw bad('missing input');
          refuseSet(i.context, 'context', NO_DERIVATION);
          const res = await a.sign(decodeB64(i.input, 'input'), opts);
          return { signature: jws ? toJws(res.signature) : toVault(res.signature), key_version: res.keyVersion };
        });
      },
    );
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  }

  hotRoute('/verify/:name', 'verify', verifyHandler);
  route('post', '/verify/:name/:hash_algorithm', 'verify', verifyHandler);
  async function verifyHandler(ctx: HotRouteContext, done: Done): Promise<void> {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    const body = parse(raw, VerifyBody, warnings);
    const { items, batch } = itemsOf(raw, body.batch_input);
    const kinds = new Set(
      items.map((i) =>
        typeof i === 'object' && i !== null
          ? (i as { hmac?: unknown }).hmac !== undefined
            ? 'hmac'
            : (i as { cmac?: unknown }).cmac !== undefined
              ? 'cmac'
              : 'signature'
          : 'signature',
      ),
    );
    if (kinds.has('cmac')) throw unsupported('cmac: CMAC is not implemented');
    if (kinds.size > 1) throw bad('batch_input: every item must carry a signature, or every item an hmac');
    const isHmac = kinds.has('hmac');
    const out = await hsm.request(
      keyed(ctx, 'verify', {
        payloadBytes: items.reduce((n: number, i) => n + b64Size((i as { input?: string })?.input), 0),
        attributes: { ...(batch ? { batch: String(items.length) } : {}), ...(isHmac ? { mac: 'hmac' } : {}) },
      }),
      async (a) => {
        const row = a.key;
        if (isHmac) {
          const algorithm = ctx.params.hash_algorithm ?? body.hash_algorithm ?? body.algorithm ?? 'sha2-256';
          if (algorithm !== 'sha2-256')
            throw unsupported(`algorithm: Keyward hmac keys are HMAC-SHA-256; got ${String(algorithm).slice(0, 20)}`);
          return runItems(ctx, items, batch, async (item) => {
            const i = parse(item as Record<string, unknown>, VerifyItem);
            if (i.input === undefined) throw bad('missing input');
            if (i.signature !== undefined) throw bad('give either signature or hmac, not both');
            const { version, body: macB64 } = parseVault(i.hmac!, 'hmac');
            const mac = decodeB64(macB64, 'hmac');
            if (version < row.minDecryptionVersion || version > row.latestVersion) return { valid: false };
            const expected = Buffer.from(
              parseVault((await a.hmac(decodeB64(i.input, 'input'), version)).hmac, 'hmac').body,
              'base64',
            );
            return { valid: expected.length === mac.length && timingSafeEqual(expected, mac) };
          });
        }
        const { opts, jws } = signOptions(row.type, body, ctx.params.hash_algorithm as string | undefined);
        return runItems(ctx, items, batch, async (item) => {
          const i = parse(item as Record<string, unknown>, VerifyItem);
          if (i.input === undefined) throw bad('missing input');
          if (i.signature === undefined) throw bad('missing signature (or hmac) to verify');
          refuseSet(i.context, 'context', NO_DERIVATION);
          const sig = jws ? fromJws(i.signature, 'signature') : fromVault(i.signature, 'signature');
          return { valid: await a.verify(decodeB64(i.input, 'input'), sig, opts) };
        });
      },
    );
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  }

  route('post', '/hmac/:name', 'hmac', hmacHandler);
  route('post', '/hmac/:name/:algorithm', 'hmac', hmacHandler);
  async function hmacHandler(ctx: RouterContext, done: Done): Promise<void> {
    const warnings: string[] = [];
    const raw = await rawBody(ctx);
    const body = parse(raw, HmacBody, warnings);
    const algorithm = (ctx.params.algorithm as string | undefined) ?? body.algorithm ?? 'sha2-256';
    if (algorithm !== 'sha2-256') {
      if (!VAULT_HASHES[algorithm]) vaultHash(algorithm, 'algorithm');
      throw unsupported(`algorithm: Keyward hmac keys are HMAC-SHA-256; got ${algorithm}`);
    }
    const { items, batch } = itemsOf(raw, body.batch_input);
    const out = await hsm.request(
      keyed(ctx, 'hmac', {
        payloadBytes: items.reduce((n: number, i) => n + b64Size((i as { input?: string })?.input), 0),
        attributes: batch ? { batch: String(items.length) } : {},
        version: () => body.key_version || undefined,
      }),
      (a) =>
        runItems(ctx, items, batch, async (item) => {
          const i = parse(item as Record<string, unknown>, HmacItem);
          if (i.input === undefined) throw bad('missing input for HMAC');
          const res = await a.hmac(decodeB64(i.input, 'input'), body.key_version || a.key.latestVersion);
          return { hmac: toVault(res.hmac), key_version: res.keyVersion };
        }),
    );
    done(out, (res) => sendResults(ctx, res, batch, warnings, body.partial_failure_response_code));
  }

  // ---------------------------------------------------------------------------------------------
  // Random and hash (no key)

  const randomHandler = async (ctx: RouterContext, done: Done) => {
    const warnings: string[] = [];
    const body = parse(await rawBody(ctx), RandomBody, warnings);
    let source = body.source ?? 'platform';
    let bytesText: string | undefined = ctx.params.bytes as string | undefined;
    const a = ctx.params.a as string | undefined;
    if (a !== undefined) {
      if (/^\d+$/.test(a)) bytesText = a;
      else source = a;
    }
    if (ctx.params.source !== undefined) source = ctx.params.source as string;
    if (source !== 'platform' && source !== 'all')
      throw unsupported(
        `source: Keyward's random bytes come from the platform (node:crypto); got "${source.slice(0, 20)}"`,
      );
    const bytes =
      bytesText !== undefined ? (/^\d{1,7}$/.test(bytesText) ? Number(bytesText) : NaN) : (body.bytes ?? 32);
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM)
      throw bad(`bytes: expected 1 to ${MAX_RANDOM}`);
    const data = await hsm.request(
      { ...who(ctx), operation: 'random', payloadBytes: bytes, attributes: { ...ATTR } },
      async () => {
        const b = randomBytes(bytes);
        return { random_bytes: b.toString(body.format === 'hex' ? 'hex' : 'base64') };
      },
    );
    done(data, (d) => sendData(ctx, d, warnings));
  };
  route('post', '/random', 'random', randomHandler);
  route('post', '/random/:a', 'random', randomHandler);
  route('post', '/random/:source/:bytes', 'random', randomHandler);

  const hashHandler = async (ctx: RouterContext, done: Done) => {
    const warnings: string[] = [];
    const body = parse(await rawBody(ctx), HashBody, warnings);
    const algorithm = vaultHash(
      (ctx.params.algorithm as string | undefined) ?? body.algorithm ?? 'sha2-256',
      'algorithm',
    );
    const input = decodeB64(body.input, 'input');
    const data = await hsm.request(
      { ...who(ctx), operation: 'hash', payloadBytes: input.length, attributes: { ...ATTR, algorithm } },
      async () => ({
        sum: createHash(algorithm)
          .update(input)
          .digest(body.format === 'base64' ? 'base64' : 'hex'),
      }),
    );
    done(data, (d) => sendData(ctx, d, warnings));
  };
  route('post', '/hash', 'hash', hashHandler);
  route('post', '/hash/:algorithm', 'hash', hashHandler);

  // ---------------------------------------------------------------------------------------------
  // Anything else under /v1/transit: Vault's 405 for a known path, 404 otherwise, in Vault's format.

  const fallback = async (ctx: Context) => {
    const layers = r
      .match(ctx.path, ctx.method)
      .path.filter((l) => l.methods.length > 0 && l.path !== TRANSIT_PREFIX && !String(l.path).includes('*'));
    if (layers.length > 0)
      return sendErrors(
        ctx,
        vaultStatus('METHOD_NOT_ALLOWED'),
        ['1 error occurred:\n\t* unsupported operation\n\n'],
        'METHOD_NOT_ALLOWED',
      );
    sendErrors(
      ctx,
      vaultStatus('ROUTE_NOT_FOUND'),
      [`no handler for route "${ctx.path.slice(4, 200)}". route entry not found.`],
      'ROUTE_NOT_FOUND',
    );
  };
  r.all(TRANSIT_PREFIX, fallback);
  r.all(`${TRANSIT_PREFIX}/*rest`, fallback);

  return r;
}

/** The base64 public key of version `v` from a key's info (stored as SPKI/raw, base64). */
function publicB64(info: { versions: Array<{ version: number; publicKey: string | null }> }, v: number): string {
  const pk = info.versions.find((x) => x.version === v)?.publicKey;
  if (!pk) throw new KeywardError('KEY_VERSION_NOT_FOUND', `no public key for version ${v}`);
  return pk;
}

/**
 * Private material in Vault's export formats: base64 of the raw key for AEAD and HMAC keys, base64
 * of seed ‖ public key (64 bytes) for Ed25519, PEM for ECDSA (SEC 1 "EC PRIVATE KEY") and RSA
 * (PKCS #1 "RSA PRIVATE KEY"); base64 of Keyward's canonical seed/secret for post-quantum types.
 */
function vaultPrivateKey(type: KeyType, material: Uint8Array): string {
  const family = keyTypeInfo(type).family;
  if (family === 'aead' || family === 'mac') return toBase64(material);
  if (
    type === 'ed25519' ||
    type === 'ecdsa-p256' ||
    type === 'ecdsa-p384' ||
    type === 'rsa-3072' ||
    type === 'rsa-4096'
  ) {
    const key = createPrivateKey({ key: Buffer.from(material), format: 'der', type: 'pkcs8' });
    if (type === 'ed25519') {
      const jwk = key.export({ format: 'jwk' });
      return Buffer.concat([Buffer.from(jwk.d ?? '', 'base64url'), Buffer.from(jwk.x ?? '', 'base64url')]).toString(
        'base64',
      );
    }
    return String(key.export({ format: 'pem', type: type.startsWith('rsa') ? 'pkcs1' : 'sec1' }));
  }
  return toBase64(material);
}
