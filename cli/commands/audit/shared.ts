/**
 * What the `keyward audit` commands share: reading trusted-key and checkpoint files, the policy
 * replayer behind `verify-bundle --replay` and `audit replay`, and a progress line for long runs.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { KeywardError, isKeywardError } from '../../../lib/errors.js';
import type { NoteVerifyOptions, ReplayFn, VerifiedCheckpoint, VerifierKey } from '../../../engine/audit/math/index.js';
import type { KeywardClient } from '@keyward/client';
import { readText } from '../../files.js';
import { done, plainJson } from '../../http.js';
import type { PlainGet } from '../../http.js';

/**
 * Loaded when used: every command's module is imported when the CLI starts. The note module alone,
 * not ../math/index.js, whose bundle verifier loads zod (`audit verify` waits for this import).
 */
const notes = () => import('../../../engine/audit/math/note.js');

/** Largest bundle file read (a V8 string holds at most ~512 M characters). */
export const MAX_BUNDLE_FILE = 512 * 1024 * 1024;

/** Most records one POST /v1/audit/export carries (server limit); larger ranges go in chunks. */
export const EXPORT_MAX_RECORDS = 100_000;

/** Prefixes a KeywardError's message (keeping its code and details); other errors pass through. */
export function prefixed(prefix: string, err: unknown): unknown {
  if (!isKeywardError(err)) return err;
  return new KeywardError(err.code, `${prefix}${err.message}`, {
    cause: err,
    ...(err.details ? { details: { ...err.details } } : {}),
  });
}

/** Reads a bundle file as bytes (verifyBundle checks UTF-8 and JSON itself). */
export async function readBundleFile(path: string): Promise<Uint8Array> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (buf.length > MAX_BUNDLE_FILE)
    throw new KeywardError(
      'FILE_TOO_LARGE',
      `bundle ${path} is ${buf.length} bytes; expected at most ${MAX_BUNDLE_FILE} (export smaller ranges)`,
    );
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Parses a trusted keys file (one C2SP verifier key per line, `#` comments), naming the file on error. */
export async function readTrustedKeys(path: string): Promise<VerifierKey[]> {
  const { parseTrustedKeysFile } = await notes();
  const text = await readText(path, 'trusted keys file');
  try {
    return parseTrustedKeysFile(text);
  } catch (err) {
    throw prefixed(`${path}: `, err);
  }
}

/**
 * Reads a checkpoint someone kept: the signed note itself, the JSON of GET /v1/audit/checkpoint
 * (`{size, root, note}`), or an earlier attestation bundle (its `checkpoint`). Returns the note text.
 */
export async function readCheckpointNote(path: string): Promise<string> {
  const text = await readText(path, 'checkpoint file');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new KeywardError('FILE_INVALID', `checkpoint file ${path} starts like JSON but is not valid JSON`);
    }
    const v = value as { note?: unknown; checkpoint?: unknown };
    const note = typeof v.note === 'string' ? v.note : typeof v.checkpoint === 'string' ? v.checkpoint : undefined;
    if (note === undefined)
      throw new KeywardError(
        'FILE_INVALID',
        `checkpoint file ${path}: expected a signed note, {"note": ...} or a bundle with "checkpoint", got JSON without either`,
      );
    return note;
  }
  return text;
}

/** A kept checkpoint, verified against the pinned keys (it must be this log's, signed by them). */
export async function readTrustedCheckpoint(
  path: string,
  trusted: readonly VerifierKey[],
  opts: NoteVerifyOptions = {},
): Promise<VerifiedCheckpoint> {
  const { verifyNote } = await notes();
  const note = await readCheckpointNote(path);
  try {
    return verifyNote(note, trusted, opts);
  } catch (err) {
    throw prefixed(`previous checkpoint ${path}: `, err);
  }
}

/** A kept checkpoint's size and root, without verifying its signatures (for building a proof). */
export async function readCheckpointUnverified(
  path: string,
): Promise<{ origin: string; size: number; root: Uint8Array }> {
  const { parseCheckpoint, parseNote } = await notes();
  const note = await readCheckpointNote(path);
  try {
    return parseCheckpoint(parseNote(note).text);
  } catch (err) {
    throw prefixed(`checkpoint file ${path}: `, err);
  }
}

/**
 * The keys to verify a live log's checkpoints with: the pinned file when given, else the keys the
 * server publishes (which proves only that the server signed its own log; `warn` says so), asked
 * over `plain` first when given (cli/http.ts PlainGet), else or after a failure through the client.
 */
export async function liveTrustedKeys(
  client: () => KeywardClient,
  trustedKeyFile: string | undefined,
  warn: (text: string) => void,
  plain?: PlainGet,
): Promise<{ keys: VerifierKey[]; pinned: boolean }> {
  const { parseTrustedKeysFile } = await notes();
  if (trustedKeyFile !== undefined) return { keys: await readTrustedKeys(trustedKeyFile), pinned: true };
  const res =
    (plain && (await plainJson<{ ed25519: string; mlDsa44: string }>(plain, '/v1/audit/keys'))) ??
    done(await client().get('/v1/audit/keys'));
  warn(
    'warning: checking signatures against the keys this server publishes; pin them instead (keyward audit keys --out trusted.txt, checked out of band, then --trusted-key trusted.txt)',
  );
  try {
    return { keys: parseTrustedKeysFile([res.ed25519, res.mlDsa44].join('\n')), pinned: false };
  } catch (err) {
    throw prefixed('GET /v1/audit/keys: ', err);
  }
}

/** What replay counts: decisions re-evaluated, and policy modules loaded. */
export interface Replayer {
  replay: ReplayFn;
  /** Modules loaded (one per distinct policy). */
  readonly loaded: number;
}

/**
 * A ReplayFn on the policy engine: loads each module once (cached by its bytes and by SHA-256) and
 * evaluates the recorded input bytes with the default gas budget, as the server does. A host fault
 * (trap, out of gas, bad output…) is the 'fault' verdict, as in the records (engine/hsm.ts).
 */
export async function policyReplayer(): Promise<Replayer> {
  const { loadPolicy } = await import('../../../engine/policy/sandbox/index.js');
  const { bundledMetering } = await import('../../../engine/policy/bindings/prebuilt.js');
  const { sha256Hex } = await import('../../../engine/audit/math/record.js');
  const prebuilt = bundledMetering();
  type Loaded = Awaited<ReturnType<typeof loadPolicy>>;
  const byBytes = new WeakMap<Uint8Array, Promise<Loaded>>();
  const byHash = new Map<string, Promise<Loaded>>();
  const load = (wasm: Uint8Array): Promise<Loaded> => {
    let p = byBytes.get(wasm);
    if (p) return p;
    const hash = sha256Hex(wasm);
    p = byHash.get(hash);
    if (!p) {
      p = prebuilt(hash)
        .then((m) => loadPolicy(wasm, m))
        .catch((err: unknown) => {
          throw prefixed(`policy ${hash} cannot be loaded for replay: `, err);
        });
      byHash.set(hash, p);
    }
    byBytes.set(wasm, p);
    return p;
  };
  return {
    async replay(wasm, input) {
      const policy = await load(wasm);
      const r = policy.evaluate(input);
      return { decision: r.fault ? 'fault' : r.decision, gas: r.gas };
    },
    get loaded() {
      return byHash.size;
    },
  };
}

/** `1234567` → `1,234,567` (rounded). */
export function num(n: number): string {
  const r = Math.round(n);
  // Not toLocaleString for safe integers: its first call loads ICU's number formatting, 50-160 ms of
  // CPU that `audit verify` spent before its first records were folded.
  if (!Number.isSafeInteger(r)) return r.toLocaleString('en-US');
  return (r < 0 ? '-' : '') + String(Math.abs(r)).replace(/\B(?=(\d{3})+$)/g, ',');
}

/**
 * A one-line progress bar on a TTY stream (redrawn at most 10 times a second); silent otherwise.
 */
export class Progress {
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #enabled: boolean;
  readonly #label: string;
  readonly #start = performance.now();
  #last = 0;
  #drawn = false;

  constructor(out: NodeJS.WritableStream, opts: { enabled: boolean; label: string }) {
    this.#out = out as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    this.#enabled = opts.enabled && this.#out.isTTY === true;
    this.#label = opts.label;
  }

  update(done: number, total: number, force = false): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const rate = done / Math.max((now - this.#start) / 1000, 1e-6);
    const line = `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${num(done)}/${num(total)} ${num(rate)} rec/s`;
    this.#out.write(`\r${line.slice(0, (this.#out.columns ?? 120) - 1)}\x1b[K`);
    this.#drawn = true;
  }

  /** Clears the line (call before printing anything else). */
  done(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }
}

/** Checks --from < --to when both are given. */
export function checkRange(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && !(from < to))
    throw new KeywardError('USAGE', `expected --from < --to, got --from ${from} --to ${to}`);
}
