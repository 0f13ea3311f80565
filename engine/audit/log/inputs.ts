/**
 * The policy inputs of one committed batch, kept for replay and export (docs/architecture.md, "The
 * audit log"): encrypted under the barrier ONCE per batch, one blob with one IV at path
 * `audit/inputs/<first>` (the batch's first index, so a blob moved to another batch does not
 * decrypt), instead of once per record. Plaintext layout, per input, in record order without
 * repeats:
 *
 *   digest (32 bytes, SHA-256 of the input's canonical bytes) ‖ length (u32 BE) ‖ bytes
 *
 * Inputs written one by one by releases before migration 0008 stay in audit_inputs at
 * `audit/input/<digest>`; `exportBundle` (read.ts) reads both.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';

/** A policy input as the pipeline hands it to the log: its SHA-256 (hex) and canonical bytes. */
export interface AuditInput {
  digest: string;
  bytes: Uint8Array;
}

/** The barrier path of a batch's inputs blob. */
export const batchInputsPath = (first: number): string => `audit/inputs/${first}`;
/** The barrier path of an input stored on its own (releases before 0008). */
export const singleInputPath = (digest: string): string => `audit/input/${digest}`;

const HEX64 = /^[0-9a-f]{64}$/;

/** The plaintext of a batch's inputs blob (repeated digests kept once). */
export function encodeBatchInputs(inputs: readonly AuditInput[]): Uint8Array {
  const seen = new Set<string>();
  const parts: Buffer[] = [];
  for (const i of inputs) {
    if (seen.has(i.digest)) continue;
    if (!HEX64.test(i.digest)) throw new TypeError('"digest" expected 64 lowercase hex digits');
    seen.add(i.digest);
    const head = Buffer.allocUnsafe(36);
    head.write(i.digest, 0, 'hex');
    head.writeUInt32BE(i.bytes.length, 32);
    parts.push(head, Buffer.from(i.bytes.buffer, i.bytes.byteOffset, i.bytes.byteLength));
  }
  return Buffer.concat(parts);
}

/** Reads a decrypted batch inputs blob into digest → bytes (AUDIT_LOG_CORRUPT when it is malformed). */
export function decodeBatchInputs(
  plain: Uint8Array,
  into: Map<string, Uint8Array> = new Map(),
): Map<string, Uint8Array> {
  const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  let at = 0;
  while (at < buf.length) {
    if (at + 36 > buf.length) throw corrupt();
    const digest = buf.toString('hex', at, at + 32);
    const len = buf.readUInt32BE(at + 32);
    if (at + 36 + len > buf.length) throw corrupt();
    into.set(digest, new Uint8Array(buf.subarray(at + 36, at + 36 + len)));
    at += 36 + len;
  }
  return into;
}

function corrupt(): KeywardError {
  return new KeywardError('AUDIT_LOG_CORRUPT', 'a stored batch of policy inputs is truncated');
}
