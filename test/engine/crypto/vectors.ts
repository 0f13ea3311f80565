// Loaders for the published vectors in test/vectors/ (provenance in test/vectors/README.md).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

const ROOT = new URL('../../vectors/', import.meta.url);

export interface AcvpGroup {
  readonly tgId: number;
  readonly testType: string;
  readonly tests: Array<Record<string, unknown>>;
  readonly [k: string]: unknown;
}

/** The testGroups of an ACVP internalProjection file under test/vectors/acvp/. */
export function acvp(name: string): AcvpGroup[] {
  const json = JSON.parse(gunzipSync(readFileSync(new URL(`acvp/${name}.json.gz`, ROOT))).toString('utf8')) as {
    testGroups: AcvpGroup[];
  };
  return json.testGroups;
}

export function rfc8032(name: 'ed25519' | 'ed25519ctx' | 'ed25519ph'): Array<Record<string, string>> {
  return JSON.parse(gunzipSync(readFileSync(new URL(`rfc8032/${name}.json.gz`, ROOT))).toString('utf8')) as Array<
    Record<string, string>
  >;
}

export function xwing(): Array<Record<'seed' | 'eseed' | 'ss' | 'sk' | 'pk' | 'ct', string>> {
  return JSON.parse(readFileSync(new URL('x-wing/test-vectors.json', ROOT), 'utf8')) as Array<
    Record<'seed' | 'eseed' | 'ss' | 'sk' | 'pk' | 'ct', string>
  >;
}

/** A Wycheproof subset under test/vectors/wycheproof/ (provenance inside each file and in the README). */
export function wycheproof<T = Record<string, unknown>>(name: 'aes_kwp_256' | 'rsa_oaep_3072_sha256'): T {
  return JSON.parse(readFileSync(new URL(`wycheproof/${name}.json`, ROOT), 'utf8')) as T;
}

export function hex(s: unknown): Uint8Array {
  if (typeof s !== 'string') throw new TypeError('expected hex string');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Ed25519 PKCS#8 DER (RFC 8410) around a 32-byte seed. */
export function ed25519Pkcs8(seed: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]));
}

/** Ed25519 SPKI DER (RFC 8410) around a 32-byte public key. */
export function ed25519Spki(pub: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]));
}

/** Prints "<name>: ran N, skipped M (why)" so the counts show in the test output. */
export function report(name: string, ran: number, skipped: Record<string, number>): void {
  const s = Object.entries(skipped)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${n} ${why}`)
    .join(', ');
  console.log(`# vectors ${name}: ran ${ran}${s ? `, skipped ${s}` : ''}`);
}
