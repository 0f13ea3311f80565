/**
 * An unseal (or rekey) session: in memory only, never stored (docs/architecture.md, "Keys at rest"; Vault's unlockInformation).
 *
 * The session has a random nonce and an ephemeral X-Wing key pair whose public half is published in
 * seal status. Holders re-encrypt their share to that key, bound to the nonce, so a share never
 * crosses the wire in the clear and a submission can't be replayed into a later session. Parts are
 * kept by share index; progress below the threshold is progress, not an error. Every way a session
 * ends (combine, reset, seal, failure) wipes the parts and the session key.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { wipe } from '../../lib/bytes.js';
import { generateSessionKey } from '../../ceremony/index.js';
import type { SubmissionPurpose } from '../../ceremony/index.js';

export interface SessionPart {
  index: number;
  holder: string;
  share: Uint8Array;
}

export class UnsealSession {
  readonly purpose: SubmissionPurpose;
  readonly nonce: string;
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;
  readonly #parts = new Map<number, SessionPart>();
  #closed = false;

  private constructor(purpose: SubmissionPurpose, nonce: string, seed: Uint8Array, publicKey: Uint8Array) {
    this.purpose = purpose;
    this.nonce = nonce;
    this.#seed = seed;
    this.publicKey = publicKey;
  }

  static async start(purpose: SubmissionPurpose): Promise<UnsealSession> {
    const { seed, publicKey } = await generateSessionKey();
    return new UnsealSession(purpose, randomBytes(16).toString('hex'), seed, publicKey);
  }

  get seed(): Uint8Array {
    if (this.#closed) throw new Error('unseal session is closed');
    return this.#seed;
  }

  get progress(): number {
    return this.#parts.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  has(index: number): boolean {
    return this.#parts.has(index);
  }

  /** The share indexes submitted so far, ascending (public: seal status names them). */
  indexes(): number[] {
    return [...this.#parts.keys()].sort((a, b) => a - b);
  }

  part(index: number): SessionPart | undefined {
    return this.#parts.get(index);
  }

  add(part: SessionPart): void {
    if (this.#closed) throw new Error('unseal session is closed');
    if (this.#parts.has(part.index)) throw new Error('duplicate part must be rejected before add');
    this.#parts.set(part.index, part);
  }

  shares(): Uint8Array[] {
    return [...this.#parts.values()].map((p) => p.share);
  }

  /** Wipes the parts and the session key; the session can't be used again. */
  close(): void {
    for (const p of this.#parts.values()) wipe(p.share);
    this.#parts.clear();
    wipe(this.#seed);
    this.#closed = true;
  }
}
