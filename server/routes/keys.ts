/**
 * /v1/keys and /v1/random: key management and the data-plane operations. Routes parse and shape;
 * the pipeline (engine/pipeline.ts) loads the named key after authentication, decides with it in
 * the policy input, and hands the operation the engine's actions bound to that key.
 * @module
 */
import Router from '@koa/router';
import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { fromBase64, toBase64 as b64 } from '../../lib/bytes.js';
import { parseWrappingKey, wrappingKeyFingerprint } from '../../engine/crypto/index.js';
import { KeyService, assertKeyName } from '../../engine/keys/service.js';
import type { KeyRow } from '../../engine/store/index.js';
import type { Actions, KeyTarget, RequestContext } from '../../engine/hsm.js';
import type { KeyedOperation } from '../../engine/operations.js';
import type { AppDeps } from '../deps.js';
import { hot } from '../direct.js';
import type { HotContext, HotRouteContext } from '../direct.js';
import { caller } from '../auth.js';
import { parseBody, parseQuery, readBody, validate } from '../body.js';
import { statusFor } from '../errors.js';
import { JsonText, respond } from './respond.js';
import {
  DatakeyBody,
  DecapsulateBody,
  DecryptItem,
  EmptyBody,
  EncryptItem,
  encryptItemFast,
  takeDecodedPlaintext,
  tapped,
  HmacItem,
  KeyConfigBody,
  KeyCreateBody,
  KeyExportBody,
  KeyImportBody,
  KeyListQuery,
  PublicKeyQuery,
  RandomBody,
  RewrapBody,
  SignItem,
  VerifyItem,
  WrappingKeyQuery,
  batchBody,
} from '../schemas.js';

const OP_BODY_LIMIT = 8 * 1024 * 1024;
const bytes = (text: string, field: string) => fromBase64(text, field, undefined, 'VALIDATION_FAILED');
const optBytes = (text: string | undefined, field: string) => (text === undefined ? undefined : bytes(text, field));

/** Batch schemas, built once per item schema (building one costs more than using it). */
const batchSchemas = new WeakMap<z.ZodType, z.ZodType>();
function batchSchema(item: z.ZodType): z.ZodType {
  let schema = batchSchemas.get(item);
  if (!schema) batchSchemas.set(item, (schema = batchBody(item)));
  return schema;
}

/**
 * One item or `{batch: [...]}` (server/schemas.ts batchOf), told apart by the `batch` field before
 * validating, so a wrong field is reported against the form the caller meant rather than as zod's
 * "invalid input" for the union.
 */
async function parseOneOrBatch<S extends z.ZodType>(
  ctx: HotContext,
  item: S,
  fast?: (raw: unknown) => z.output<S> | undefined,
): Promise<{ items: z.output<S>[]; batch: boolean }> {
  const raw = await readBody(ctx, OP_BODY_LIMIT);
  const isBatch = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.hasOwn(raw, 'batch');
  // One item the fast check accepts is what the schema gives it (server/schemas.ts encryptItemFast).
  const one = isBatch ? undefined : fast?.(raw);
  if (one !== undefined) return { items: [one], batch: false };
  const schema = isBatch ? batchSchema(item) : item;
  const data = validate(schema, raw);
  return { items: isBatch ? (data as { batch: z.output<S>[] }).batch : [data as z.output<S>], batch: isBatch };
}

/**
 * Single-item answers of the data plane spelled as JSON by hand (respond.ts JsonText), with their
 * fields in the order the engine gives them: a ciphertext or signature is `kw:v<N>:` then base64
 * (engine/crypto/format.ts formatVersioned), a plaintext base64, a version an integer, so nothing
 * in them is escaped.
 */
const ciphertextAnswer = (r: { ciphertext: string; keyVersion: number }) =>
  new JsonText(`{"ciphertext":"${r.ciphertext}","keyVersion":${r.keyVersion}}`);
const plaintextAnswer = (r: { plaintext: string }) => new JsonText(`{"plaintext":"${r.plaintext}"}`);
const signatureAnswer = (r: { signature: string; keyVersion: number }) =>
  new JsonText(`{"signature":"${r.signature}","keyVersion":${r.keyVersion}}`);

/** A batch item's error, shaped like the top-level one; unexpected errors stay generic. */
function itemError(err: unknown): { error: { code: string; message: string } } {
  if (err instanceof KeywardError && statusFor(err.code) !== undefined)
    return { error: { code: err.code, message: err.message } };
  return { error: { code: 'INTERNAL', message: 'internal error' } };
}

export function keyRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router();

  /** The pipeline context of a request on the key named in the path (loaded by the pipeline). */
  function keyed(
    ctx: HotRouteContext,
    operation: KeyedOperation,
    opts: Omit<KeyTarget, 'name'> &
      Pick<RequestContext, 'payloadBytes' | 'attributes' | 'precheck' | 'auditDetails'> = {},
  ): RequestContext & { key: KeyTarget } {
    const { anyState, version, ...rest } = opts;
    // Added to caller()'s object, not spread into a new one: this runs on every keyed request.
    const key: KeyTarget = { name: ctx.params.name as string };
    if (anyState) key.anyState = anyState;
    if (version) key.version = version;
    return Object.assign(caller(ctx), { operation }, rest, { key });
  }

  /**
   * A one-or-batch data operation: one policy decision for the request, per-item results. `run`
   * is given the plaintext bytes `fast` decoded, if any, and wipes them; the route wipes them when
   * `run` never got them (refused, parked, failed first). `version` is the key version an item
   * names, for the policies; `answer` spells a single item's result as JSON (respond.ts JsonText).
   *
   * Once the operation has its input, the request lets go of the body (its parsed JSON in
   * `ctx.state.json` and the item): a request then waits for its audit record's group commit
   * holding its answer, not its input (issue 14: requests waiting for the statement outlived young
   * collections and were copied and promoted with all they held).
   */
  function operation<S extends z.ZodType, R>(
    op: KeyedOperation,
    item: S,
    payload: (i: z.output<S>) => number,
    run: (a: Actions<KeyRow>, i: z.output<S>, decoded?: Uint8Array) => Promise<R>,
    opts: {
      version?: (i: z.output<S>) => number | undefined;
      fast?: (raw: unknown) => z.output<S> | undefined;
      answer?: (result: R) => JsonText;
    } = {},
  ) {
    const { version, fast, answer } = opts;
    return async (ctx: HotRouteContext): Promise<void> => {
      const parsed: { items: z.output<S>[] | undefined; batch: boolean } = await parseOneOrBatch(ctx, item, fast);
      // The plaintext the fast check decoded, until `run` takes it.
      let decoded = fast !== undefined && !parsed.batch ? takeDecodedPlaintext(parsed.items![0] as object) : undefined;
      try {
        const out = await hsm.request(
          keyed(ctx, op, oneOrBatch(parsed.items!, parsed.batch, payload, version)),
          (a) => {
            const given = decoded;
            decoded = undefined;
            return operate(ctx, parsed, a, run, given);
          },
        );
        respond(ctx, out, 200, parsed.batch ? undefined : (answer as ((v: unknown) => JsonText) | undefined));
      } finally {
        decoded?.fill(0);
      }
    };
  }

  /** What the pipeline is told of a one-or-batch request: its payload size, `batch` attribute and version. */
  function oneOrBatch<S extends z.ZodType>(
    items: z.output<S>[],
    batch: boolean,
    payload: (i: z.output<S>) => number,
    version: ((i: z.output<S>) => number | undefined) | undefined,
  ): Pick<RequestContext, 'payloadBytes' | 'attributes'> & Pick<KeyTarget, 'version'> {
    const total = items.reduce((n: number, i) => n + payload(i), 0);
    if (batch) return { payloadBytes: total, attributes: { batch: String(items.length) } };
    const opts: ReturnType<typeof oneOrBatch> = { payloadBytes: total, attributes: {} };
    // Read when the pipeline asks (a throw is then recorded), from the one item only.
    const one = items[0]!;
    if (version) opts.version = () => version(one);
    return opts;
  }

  /**
   * Runs a one-or-batch operation, having let go of the body (see `operation`): one item, its
   * operation's own promise (no async frame of its own; a throw before it returns one is caught by
   * the pipeline as a rejection would be).
   */
  function operate<S extends z.ZodType>(
    ctx: HotContext,
    parsed: { items: z.output<S>[] | undefined; batch: boolean },
    a: Actions<KeyRow>,
    run: (a: Actions<KeyRow>, i: z.output<S>, decoded?: Uint8Array) => Promise<unknown>,
    decoded: Uint8Array | undefined,
  ): Promise<unknown> {
    const items = parsed.items!;
    parsed.items = undefined;
    ctx.state.json = undefined;
    return parsed.batch ? runBatch(a, items, run) : run(a, items[0]!, decoded);
  }

  async function runBatch<I>(
    a: Actions<KeyRow>,
    items: I[],
    run: (a: Actions<KeyRow>, i: I) => Promise<unknown>,
  ): Promise<unknown> {
    const results: unknown[] = [];
    for (const i of items) {
      // try/await, not .catch(): `run` may throw before returning a promise (a bad base64 field).
      try {
        results.push(await run(a, i));
      } catch (err) {
        results.push(itemError(err));
      }
    }
    return { batch: results };
  }

  r.post('/v1/keys', async (ctx) => {
    const body = await parseBody(ctx, KeyCreateBody, deps.bodyLimit);
    const out = await hsm.request(
      {
        ...caller(ctx),
        operation: 'key.create',
        newKey: { name: body.name, type: body.type, version: 1, labels: body.labels ?? {} },
        attributes: { verifyOnly: String(body.publicKey !== undefined) },
      },
      (a) => a.createKey(body),
    );
    respond(ctx, out, 201);
  });

  r.get('/v1/keys', async (ctx) => {
    const { limit, after } = parseQuery(ctx, KeyListQuery);
    respond(ctx, await hsm.request({ ...caller(ctx), operation: 'key.list' }, (a) => a.listKeys({ limit, after })));
  });

  r.get('/v1/keys/:name', async (ctx) => {
    respond(ctx, await hsm.request(keyed(ctx, 'key.read', { anyState: true }), (a) => a.keyInfo()));
  });

  r.post('/v1/keys/:name/rotate', async (ctx) => {
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    respond(ctx, await hsm.request(keyed(ctx, 'key.rotate'), (a) => a.rotateKey()));
  });

  r.post('/v1/keys/:name/config', async (ctx) => {
    const body = await parseBody(ctx, KeyConfigBody, deps.bodyLimit);
    const attributes = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
    respond(
      ctx,
      await hsm.request(keyed(ctx, 'key.config', { anyState: true, attributes }), (a) => a.configureKey(body)),
    );
  });

  r.delete('/v1/keys/:name', async (ctx) => {
    // A key that doesn't allow deletion is refused at once, not parked for approvers.
    const precheck = (row: KeyRow | undefined) => KeyService.assertDeletionAllowed(row!);
    respond(
      ctx,
      await hsm.request(keyed(ctx, 'key.delete', { anyState: true, precheck }), (a) => a.scheduleDeletion()),
    );
  });

  r.post(
    '/v1/keys/:name/encrypt',
    hot(
      operation(
        'encrypt',
        EncryptItem,
        (i) => Math.floor((i.plaintext.length * 3) / 4),
        async (a, i, decoded) => {
          // An item the fast check decoded is not decoded again.
          const plaintext = decoded ?? tapped(bytes(i.plaintext, 'plaintext'));
          try {
            return await a.encrypt(plaintext, optBytes(i.aad, 'aad'));
          } finally {
            plaintext.fill(0);
          }
        },
        { fast: encryptItemFast, answer: ciphertextAnswer },
      ),
    ),
  );
  r.post(
    '/v1/keys/:name/decrypt',
    hot(
      operation(
        'decrypt',
        DecryptItem,
        (i) => i.ciphertext.length,
        async (a, i) => {
          const plaintext = tapped(await a.decrypt(i.ciphertext, optBytes(i.aad, 'aad'), i.keyVersion));
          try {
            return { plaintext: b64(plaintext) };
          } finally {
            plaintext.fill(0);
          }
        },
        { version: (i) => i.keyVersion ?? KeyService.versionOf(i.ciphertext), answer: plaintextAnswer },
      ),
    ),
  );
  r.post('/v1/keys/:name/rewrap', async (ctx) => {
    const body = await parseBody(ctx, RewrapBody, OP_BODY_LIMIT);
    const version = () => body.keyVersion ?? KeyService.versionOf(body.ciphertext);
    respond(
      ctx,
      await hsm.request(keyed(ctx, 'rewrap', { payloadBytes: body.ciphertext.length, version }), (a) =>
        a.rewrap(body.ciphertext, optBytes(body.aad, 'aad'), body.keyVersion),
      ),
    );
  });
  r.post('/v1/keys/:name/datakey', async (ctx) => {
    const body = await parseBody(ctx, DatakeyBody, deps.bodyLimit);
    const out = await hsm.request(keyed(ctx, 'datakey', { payloadBytes: body.bytes ?? 32 }), async (a) => {
      const d = await a.datakey(body.bytes, optBytes(body.aad, 'aad'));
      const res = { plaintext: b64(d.plaintext), ciphertext: d.ciphertext, keyVersion: d.keyVersion };
      d.plaintext.fill(0);
      return res;
    });
    respond(ctx, out);
  });
  r.post(
    '/v1/keys/:name/sign',
    hot(
      operation(
        'sign',
        SignItem,
        (i) => Math.floor((i.message.length * 3) / 4),
        (a, i) =>
          a.sign(bytes(i.message, 'message'), {
            encoding: i.encoding,
            prehashed: i.prehashed,
            context: optBytes(i.context, 'context'),
          }),
        { answer: signatureAnswer },
      ),
    ),
  );
  r.post(
    '/v1/keys/:name/verify',
    hot(
      operation(
        'verify',
        VerifyItem,
        (i) => Math.floor((i.message.length * 3) / 4),
        async (a, i) => ({
          valid: await a.verify(bytes(i.message, 'message'), i.signature, {
            encoding: i.encoding,
            prehashed: i.prehashed,
            context: optBytes(i.context, 'context'),
            keyVersion: i.keyVersion,
          }),
        }),
        { version: (i) => i.keyVersion ?? KeyService.versionOf(i.signature) },
      ),
    ),
  );
  r.post(
    '/v1/keys/:name/hmac',
    operation(
      'hmac',
      HmacItem,
      (i) => Math.floor((i.message.length * 3) / 4),
      (a, i) => a.hmac(bytes(i.message, 'message')),
    ),
  );
  r.post('/v1/keys/:name/encapsulate', async (ctx) => {
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    const out = await hsm.request(keyed(ctx, 'encapsulate'), async (a) => {
      const e = await a.encapsulate();
      return { ciphertext: b64(e.ciphertext), sharedSecret: b64(e.sharedSecret), keyVersion: e.keyVersion };
    });
    respond(ctx, out);
  });
  r.post('/v1/keys/:name/decapsulate', async (ctx) => {
    const body = await parseBody(ctx, DecapsulateBody, deps.bodyLimit);
    const out = await hsm.request(
      keyed(ctx, 'decapsulate', { version: (row) => body.keyVersion ?? row.latestVersion }),
      async (a) => ({
        sharedSecret: b64(
          await a.decapsulate(bytes(body.ciphertext, 'ciphertext'), body.keyVersion ?? a.key.latestVersion),
        ),
      }),
    );
    respond(ctx, out);
  });
  r.get('/v1/keys/:name/public', async (ctx) => {
    // `?format=a&format=b` arrives as an array: refused, not silently read as the default.
    const { format } = parseQuery(ctx, PublicKeyQuery);
    respond(ctx, await hsm.request(keyed(ctx, 'key.public'), (a) => a.publicKey(format)));
  });

  // BYOK. The wrapping key is server-wide, like Vault transit's `wrapping_key` (not per key as in AWS
  // KMS GetParametersForImport): import creates the key, so there is no key yet to hang one on.
  r.get('/v1/sys/wrapping-key', async (ctx) => {
    const { algorithm } = parseQuery(ctx, WrappingKeyQuery);
    respond(
      ctx,
      await hsm.request({ ...caller(ctx), operation: 'key.wrapping-key', attributes: { algorithm } }, (a) =>
        a.wrappingKey(algorithm),
      ),
    );
  });

  r.post('/v1/keys/:name/import', async (ctx) => {
    const body = await parseBody(ctx, KeyImportBody, deps.bodyLimit);
    const name = ctx.params.name as string;
    assertKeyName(name);
    // The wrapped blob is attacker input and secret-bearing: only its decoded size reaches policies and logs.
    const wrappedKey = bytes(body.wrappedKey, 'wrappedKey');
    const out = await hsm.request(
      {
        ...caller(ctx),
        operation: 'key.import',
        newKey: { name, type: body.type, version: body.keyVersion ?? 1, labels: body.labels ?? {} },
        attributes: { algorithm: body.algorithm, ...(body.keyId ? { keyId: body.keyId } : {}) },
        payloadBytes: wrappedKey.length,
      },
      async (a) => {
        try {
          const source =
            body.keyId !== undefined && body.keyVersion !== undefined
              ? { keyId: body.keyId, version: body.keyVersion }
              : undefined;
          return await a.importKey({
            name,
            type: body.type,
            algorithm: body.algorithm,
            wrappedKey,
            exportable: body.exportable,
            labels: body.labels,
            requireLowS: body.requireLowS,
            source,
          });
        } finally {
          wrappedKey.fill(0);
        }
      },
    );
    respond(ctx, out, 201);
  });

  // Key export under dual control (the default policy asks two operators for `key.export`). One
  // version per request, as import takes one: the wrapping key is parsed before anything else, and
  // what no approval could fix (not exportable, verify-only, no such version) is refused before the
  // request is parked. Only the algorithm and the wrapping key's fingerprint reach the audit record.
  r.post('/v1/keys/:name/export', async (ctx) => {
    const body = await parseBody(ctx, KeyExportBody, deps.bodyLimit);
    const wrappingPublicKey = parseWrappingKey(body.algorithm, body.wrappingKey);
    const fingerprint = wrappingKeyFingerprint(wrappingPublicKey);
    const request = keyed(ctx, 'key.export', {
      attributes: { algorithm: body.algorithm, wrappingKey: fingerprint },
      auditDetails: { algorithm: body.algorithm, wrappingKeyFingerprint: fingerprint },
      version: () => body.keyVersion,
      precheck: (row) => hsm.assertExportable(row!, body.keyVersion),
    });
    const out = await hsm.request(request, async (a) => {
      const e = await a.exportKey({ algorithm: body.algorithm, wrappingPublicKey, version: body.keyVersion });
      return {
        name: a.key.name,
        type: e.type,
        keyVersion: e.keyVersion,
        keyId: e.keyId,
        algorithm: body.algorithm,
        wrappedKey: b64(e.wrappedKey),
        wrappingKeyFingerprint: e.wrappingKeyFingerprint,
        publicKey: e.publicKey ? b64(e.publicKey) : null,
      };
    });
    respond(ctx, out);
  });

  r.post('/v1/random', async (ctx) => {
    const body = await parseBody(ctx, RandomBody, deps.bodyLimit);
    respond(
      ctx,
      await hsm.request({ ...caller(ctx), operation: 'random', payloadBytes: body.bytes }, async () => ({
        bytes: b64(randomBytes(body.bytes)),
      })),
    );
  });

  return r;
}
