/**
 * A batch's policy inputs blob (engine/audit/log/inputs.ts): format 2 with codec 2 (each input
 * against the one before it, digests recomputed) round-trips, is read by an independent decoder
 * written here from the format's description, and is chosen only when it is smaller; format 2 with
 * codec 1 (DEFLATE, checked against pako) and format 1, as earlier releases wrote them, still
 * decode; a damaged, truncated or forged blob is AUDIT_LOG_CORRUPT naming its batch, never a crash,
 * and cannot make the reader build more than it declared or INFLATED_MAX.
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

/** Inputs as format 2 lists them before coding: u32 BE length ‖ bytes, each in turn. */
function lengthPrefixed(inputs: AuditInput[]): Buffer {
  return Buffer.concat(
    inputs.flatMap((i) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(i.bytes.length);
      return [len, Buffer.from(i.bytes)];
    }),
  );
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
  it('codes a batch of near-identical inputs (format 2, codec 2) and reads it back, digests recomputed', () => {
    const inputs = batchOf(13);
    const v1 = encodeBatchInputs(inputs);
    const packed = packBatchInputs([...inputs, inputs[3]!]); // a repeat is kept once
    const head = Buffer.from(packed);
    assert.equal(head.readUInt32BE(32), 0xffffffff, 'format 2');
    assert.equal(head[5], 2, 'codec 2');
    assert.ok(packed.length * 4 < v1.length, `${packed.length} bytes packed against ${v1.length} in format 1`);
    const back = decodeBatchInputs(packed, new Map(), 0);
    assert.deepEqual(
      [...back.keys()],
      inputs.map((i) => i.digest),
    );
    for (const i of inputs) assert.deepEqual(back.get(i.digest), i.bytes);
    // An independent reading of the body, from the format's description: prefix, suffix and middle
    // length as LEB128, then the middle; the input is the previous one's prefix ‖ middle ‖ its suffix.
    const body = head.subarray(36);
    const decoded: Uint8Array[] = [];
    let at = 0;
    const leb = () => {
      let n = 0;
      let mul = 1;
      for (;;) {
        const b = body[at++]!;
        n += (b % 128) * mul;
        mul *= 128;
        if (b < 128) return n;
      }
    };
    let prev = Buffer.alloc(0);
    while (at < body.length) {
      const [p, s, m] = [leb(), leb(), leb()];
      const cur = Buffer.concat([prev.subarray(0, p), body.subarray(at, at + m), prev.subarray(prev.length - s)]);
      at += m;
      decoded.push(new Uint8Array(cur));
      prev = cur;
    }
    assert.deepEqual(
      decoded,
      inputs.map((i) => i.bytes),
    );
    assert.equal(
      head.readUInt32BE(8),
      decoded.reduce((n, d) => n + 4 + d.length, 0),
      'the declared length',
    );
    // Inputs of different lengths and with nothing in common round-trip too.
    const mixed = [
      input(new TextEncoder().encode('short')),
      input(new TextEncoder().encode('a longer input that shares nothing')),
      input(new TextEncoder().encode('a longer input that shares nothing, then more')),
      input(new TextEncoder().encode('more')),
      input(new Uint8Array(0)),
      input(new TextEncoder().encode('short')), // a repeat: kept once
      input(new TextEncoder().encode('xshortx')),
    ];
    const packedMixed = packBatchInputs(mixed);
    const backMixed = decodeBatchInputs(packedMixed, new Map(), 0);
    assert.equal(backMixed.size, 6);
    for (const i of mixed) assert.deepEqual(backMixed.get(i.digest), i.bytes);
  });

  it('still decodes format 2 with codec 1 (DEFLATE) as the previous release wrote it', () => {
    const inputs = batchOf(13);
    const body = lengthPrefixed(inputs);
    const blob = format2(body.length, deflateRawSync(body, { level: 1 }));
    assert.deepEqual(Buffer.from(pako.inflateRaw(blob.subarray(36))), body, 'pako reads the payload');
    const back = decodeBatchInputs(blob, new Map(), 0);
    assert.deepEqual(
      [...back.keys()],
      inputs.map((i) => i.digest),
    );
    for (const i of inputs) assert.deepEqual(back.get(i.digest), i.bytes);
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
    const inputs = batchOf(13);
    const plain = lengthPrefixed(inputs);
    const deflated = format2(plain.length, deflateRawSync(plain));
    // Truncated compressed data.
    assertCorrupt(deflated.subarray(0, deflated.length - 9), 256, /damaged compressed data|inflated bytes/);
    // Header only.
    assertCorrupt(deflated.subarray(0, 36), 256, /damaged compressed data|inflated bytes/);
    // A flipped bit in the stream.
    const flipped = Buffer.from(deflated);
    flipped[40]! ^= 0x55;
    assert.throws(() => decodeBatchInputs(flipped, new Map(), 7), { code: 'AUDIT_LOG_CORRUPT' });
    // Header damage: magic, version, codec, reserved bytes, declared length.
    const packed = Buffer.from(packBatchInputs(inputs));
    const at = (i: number, v: number) => {
      const c = Buffer.from(packed);
      c[i] = v;
      return c;
    };
    assertCorrupt(at(0, 0x4c), 9, /unknown format/);
    assertCorrupt(at(4, 3), 9, /unknown format/);
    assertCorrupt(at(5, 3), 9, /unknown codec 3/);
    assertCorrupt(at(20, 1), 9, /damaged header/);
    const longer = Buffer.from(deflated);
    longer.writeUInt32BE(longer.readUInt32BE(8) + 1, 8);
    assertCorrupt(longer, 9, /inflated bytes where/);
    // An entry length past the end of the inflated data.
    const body = Buffer.alloc(8);
    body.writeUInt32BE(100, 0);
    assertCorrupt(format2(8, deflateRawSync(body)), 3, /truncated/);
    // Codec 2: a declared length off by one either way, a truncated entry, an entry reusing more than
    // the input before it holds, a varint of five bytes, and a stream of entries past the declared length.
    const c2 = (size: number, payload: number[] | Buffer) => format2(size, Buffer.from(payload), { codec: 2 });
    const plus = Buffer.from(packed);
    plus.writeUInt32BE(plus.readUInt32BE(8) + 1, 8);
    assertCorrupt(plus, 9, /decoded bytes where/);
    const minus = Buffer.from(packed);
    minus.writeUInt32BE(minus.readUInt32BE(8) - 1, 8);
    assertCorrupt(minus, 9, /more decoded bytes than/);
    assertCorrupt(packed.subarray(0, packed.length - 1), 4, /truncated/);
    assertCorrupt(c2(9, [0, 0, 5, 1, 2]), 4, /truncated/);
    assertCorrupt(c2(5, [0, 0]), 4, /truncated/);
    assertCorrupt(c2(20, [0, 0, 1, 65, 1, 1, 0]), 5, /reusing more bytes/);
    assertCorrupt(c2(20, [0x80, 0x80, 0x80, 0x80, 0x01, 0, 0]), 6, /more than 4 bytes/);
    // Zero-length middles reusing a whole input: each entry costs 3 bytes and builds the whole previous
    // input again, so a forged body could build far more than it holds; the declared length stops it.
    const big = [0, 0, 0x80, 0x80, 0x04, ...Buffer.alloc(65536)];
    for (let i = 0; i < 1000; i++) big.push(0x80, 0x80, 0x04, 0, 0);
    assertCorrupt(c2(4 + 65536, big), 8, /more decoded bytes than/);
  });

  it("a refused blob leaves the caller's map as it was: none of the inputs read before the damage", () => {
    const inputs = batchOf(5);
    const packed = Buffer.from(packBatchInputs(inputs)); // format 2, codec 2
    const head = lengthPrefixed(inputs.slice(0, 3));
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(100); // an entry of 100 bytes, with none of them there
    const deflatedTruncated = format2(head.length + 4, deflateRawSync(Buffer.concat([head, tail])));
    const format1 = Buffer.concat(
      inputs.map((i) => {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(i.bytes.length);
        return Buffer.concat([Buffer.from(i.digest, 'hex'), len, Buffer.from(i.bytes)]);
      }),
    );
    const minus = Buffer.from(packed);
    minus.writeUInt32BE(minus.readUInt32BE(8) - 1, 8);
    for (const [name, blob] of [
      ['codec 2, truncated last entry', packed.subarray(0, packed.length - 1)],
      ['codec 2, a declared length one short', minus],
      ['codec 1, a truncated entry after three whole ones', deflatedTruncated],
      ['format 1, a truncated last entry', format1.subarray(0, format1.length - 1)],
    ] as const) {
      const before = new Uint8Array([1, 2, 3]);
      const map = new Map([['kept', before]]);
      assert.throws(() => decodeBatchInputs(blob, map, 11), { code: 'AUDIT_LOG_CORRUPT' }, name);
      assert.deepEqual([...map.keys()], ['kept'], name);
      assert.equal(map.get('kept'), before, name);
    }
    // A whole blob is added to what the map held.
    const map = new Map([['kept', new Uint8Array([1])]]);
    assert.equal(decodeBatchInputs(packed, map, 11), map);
    assert.deepEqual([...map.keys()].sort(), ['kept', ...inputs.map((i) => i.digest)].sort());
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
