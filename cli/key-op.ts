/**
 * What the data-plane commands (`keyward encrypt|decrypt|rewrap|datakey|sign|verify|hmac|
 * encapsulate|decapsulate --key NAME`, one per file under cli/commands/) share: the `--key` option
 * and its path parameter for the POST to /v1/keys/{name}/<op>, input from `--in FILE` (`-` for stdin) or `--text`, and the
 * option builders for AAD, ECDSA encoding and FIPS 204/205 context strings.
 * @module
 */
import { Option, UsageError } from 'clipanion';
import { toBase64 as b64 } from '../lib/bytes.js';
import { RemoteCommand } from './base.js';
import { readInput } from './input.js';

/** A command on one key: `--key NAME`; `onKey` is the path parameter of /v1/keys/{name}/<op>. */
export abstract class KeyOpCommand extends RemoteCommand {
  key = Option.String('--key', { required: true, description: 'Key name' });

  /** `{params: {path: {name}}}` for the client's POST /v1/keys/{name}/<op>. */
  get onKey() {
    return { params: { path: { name: this.key } } };
  }
}

/** A key command with one input: exactly one of `--in FILE` (`-` for stdin) or `--text STRING`. */
export abstract class InputOpCommand extends KeyOpCommand {
  in = Option.String('--in', { description: 'Read the input from FILE (- for stdin)' });
  text = Option.String('--text', { description: 'The input as a string' });

  input(what: string): Promise<Uint8Array> {
    return readInput({ in: this.in, text: this.text, what, stdin: this.context.stdin });
  }

  /** The input as trimmed text (ciphertexts and signatures pasted or piped with a newline). */
  async inputText(what: string): Promise<string> {
    return new TextDecoder().decode(await this.input(what)).trim();
  }
}

export const aadOption = () =>
  Option.String('--aad-text', { description: 'Associated data / encryption context (bound, not stored)' });

/** The request's `aad` field from `--aad-text`, if given. */
export const aadField = (text: string | undefined) =>
  text === undefined ? {} : { aad: b64(new TextEncoder().encode(text)) };

export const encodingOption = () =>
  Option.String('--encoding', { description: 'ECDSA signature encoding: der (default) or p1363' });
export const contextOption = () =>
  Option.String('--context-text', { description: 'FIPS 204/205 context string (ML-DSA, SLH-DSA)' });

const ENCODINGS = ['der', 'p1363'] as const;

/** The request's `encoding` and `context` fields for sign and verify. */
export function signFields(encoding: string | undefined, context: string | undefined) {
  if (encoding && !(ENCODINGS as readonly string[]).includes(encoding))
    throw new UsageError(`--encoding expects ${ENCODINGS.join(' or ')}, got "${encoding}"`);
  return {
    ...(encoding ? { encoding: encoding as (typeof ENCODINGS)[number] } : {}),
    ...(context !== undefined ? { context: b64(new TextEncoder().encode(context)) } : {}),
  };
}
