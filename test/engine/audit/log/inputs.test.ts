/**
 * A batch's policy inputs blob (engine/audit/log/inputs.ts): format 2 (deflated, digests recomputed)
 * round-trips, is read by an independent DEFLATE implementation (pako), and is chosen only when it
 * is smaller; format 1, as releases before it wrote, still decodes; a damaged, truncated or forged
 * blob is AUDIT_LOG_CORRUPT naming its batch, never a crash, and cannot make the reader inflate
 * more than INFLATED_MAX.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import {
  INFLATED_MAX,
  decodeBatchInputs,
  encodeBatchInputs,
  packBatchInputs,
} from '../../../../engine/audit/log/inputs.js';
import type { AuditInput } from '../../../../engine/audit/log/inputs.js';
import { AUDIT_BATCH_MAX } from '../../../../engine/audit/log/log.js';
import { MAX_INPUT_BYTES } from '../../../../engine/policy/sandbox/schema.js';

const pako = createRequire(import.meta.url)('pako') as { inflateRaw(data: Uint8Array): Uint8Array };

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const input = (bytes: Uint8Array): AuditInput => ({ digest: sha(bytes), bytes });

/** Near-identical inputs, as one batch of encrypt requests has: the same fields, a different time. */
function batchOf(n: number): AuditInput[] {
  return Array.from({ length: n }, (_, i) => {
    const b = Buffer.from(`KWPI....encrypt svc app k1 aes256-gcm labels team=payments time=${1733360000000 + i * 7}`);
    return input(new Uint8Array(b));
  });
}

/** Format 2's 36-byte header with the given fields, then `payload`. */
function format2(size: number, payload: Uint8Array, o: { codec?: number; version?: number } = {}): Buffer {
  const h = Buffer.alloc(36);
  h.write('KWAI', 0, 'latin1');
  h[4] = o.version ?? 2;
  h[5] = o.codec ?? 1;
  h.writeUInt32BE(size, 8);
  h.writeUInt32BE(0xffffffff, 32);
  return Buffer.concat([h, payload]);
}

function assertCorrupt(plain: Uint8Array, first: number, what: RegExp): void {
  assert.throws(
    () => decodeBatchInputs(plain, new Map(), first),
    (err: any) => {
      assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
      assert.match(err.message, new RegExp(`batch at record ${first}\\b`));
      assert.match(err.message, what);
      assert.equal(err.details.index, first);
      return true;
    },
  );
}

describe('audit batch inputs blob', () => {
  it('deflates a batch of near-identical inputs (format 2) and reads it back, digests recomputed', () => {
    const inputs = batchOf(13);
    const v1 = encodeBatchInputs(inputs);
    const packed = packBatchInputs([...inputs, inputs[3]!]); // a repeat is kept once
    assert.equal(Buffer.from(packed).readUInt32BE(32), 0xffffffff, 'format 2');
    assert.ok(packed.length * 4 < v1.length, `${packed.length} bytes packed against ${v1.length} in format 1`);
    const back = decodeBatchInputs(packed, new Map(), 0);
    assert.deepEqual(
      [...back.keys()],
      inputs.map((i) => i.digest),
    );
    for (const i of inputs) assert.deepEqual(back.get(i.digest), i.bytes);
    // An independent DEFLATE implementation reads the payload: length ‖ bytes per input.
    const body = Buffer.from(pako.inflateRaw(packed.subarray(36)));
    assert.equal(body.length, Buffer.from(packed).readUInt32BE(8));
    let at = 0;
    for (const i of inputs) {
      const len = body.readUInt32BE(at);
      assert.deepEqual(new Uint8Array(body.subarray(at + 4, at + 4 + len)), i.bytes);
      at += 4 + len;
    }
    assert.equal(at, body.length);
  });

  it('keeps format 1 when deflating does not make the blob smaller', () => {
    const one = [input(new Uint8Array(createHash('sha512').update('x').digest()))];
    const packed = packBatchInputs(one);
    assert.deepEqual(packed, encodeBatchInputs(one));
    assert.deepEqual(decodeBatchInputs(packed).get(one[0]!.digest), one[0]!.bytes);
  });

  it('still decodes format 1 blobs as releases before compression wrote them', () => {
    // digest ‖ u32 BE length ‖ bytes, built here by hand.
    const a = new TextEncoder().encode('first input');
    const b = new Uint8Array(0);
    const len = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const blob = Buffer.concat([Buffer.from(sha(a), 'hex'), len(a.length), a, Buffer.from(sha(b), 'hex'), len(0)]);
    const back = decodeBatchInputs(blob);
    assert.deepEqual(back.get(sha(a)), a);
    assert.deepEqual(back.get(sha(b)), b);
    assert.equal(decodeBatchInputs(new Uint8Array(0)).size, 0);
    assertCorrupt(blob.subarray(0, blob.length - 40), 512, /truncated/);
  });

  it('bounds the inflated size by a full batch of the largest inputs', () => {
    assert.equal(INFLATED_MAX, AUDIT_BATCH_MAX * (4 + MAX_INPUT_BYTES));
  });

  it('answers AUDIT_LOG_CORRUPT naming the batch for a damaged, truncated or forged blob', () => {
    const packed = Buffer.from(packBatchInputs(batchOf(13)));
    // Truncated compressed data.
    assertCorrupt(packed.subarray(0, packed.length - 9), 256, /damaged compressed data|inflated bytes/);
    // Header only.
    assertCorrupt(packed.subarray(0, 36), 256, /damaged compressed data|inflated bytes/);
    // A flipped bit in the stream.
    const flipped = Buffer.from(packed);
    flipped[40]! ^= 0x55;
    assert.throws(() => decodeBatchInputs(flipped, new Map(), 7), { code: 'AUDIT_LOG_CORRUPT' });
    // Header damage: magic, version, codec, reserved bytes, declared length.
    const at = (i: number, v: number) => {
      const c = Buffer.from(packed);
      c[i] = v;
      return c;
    };
    assertCorrupt(at(0, 0x4c), 9, /unknown format/);
    assertCorrupt(at(4, 3), 9, /unknown format/);
    assertCorrupt(at(5, 2), 9, /unknown codec 2/);
    assertCorrupt(at(20, 1), 9, /damaged header/);
    const longer = Buffer.from(packed);
    longer.writeUInt32BE(longer.readUInt32BE(8) + 1, 8);
    assertCorrupt(longer, 9, /inflated bytes where/);
    // An entry length past the end of the inflated data.
    const body = Buffer.alloc(8);
    body.writeUInt32BE(100, 0);
    assertCorrupt(format2(8, deflateRawSync(body)), 3, /truncated/);
  });

  it('never inflates past the declared length or INFLATED_MAX (a forged blob cannot exhaust memory)', () => {
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 }); // 64 MiB of zeros, ~64 KiB
    assertCorrupt(format2(INFLATED_MAX + 1, bomb), 1, /over/);
    const before = process.memoryUsage().arrayBuffers;
    assertCorrupt(format2(INFLATED_MAX, bomb), 1, /damaged compressed data/);
    assertCorrupt(format2(1000, bomb), 1, /damaged compressed data/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 1024 * 1024, 'the reader stopped at the bound');
  });
});
