/**
 * The engine's named operations, bound to one authorized request (docs/architecture.md, "A request,
 * step by step", step 12). The pipeline (engine/pipeline.ts) hands the route an {@link Actions}
 * made from its `Authorized`: the key it loaded, the principal it authenticated and the request's
 * commit scope are already applied, so a route can neither act on another key than the one the
 * policies saw, nor forget to commit a state change with its audit record. Routes only parse the
 * HTTP request and shape the answer; they never reach the services or the database.
 * @module
 */
import { issueToken } from './auth/tokens.js';
import type { TokenAuthenticator } from './auth/tokens.js';
import type { PolicyInput } from './policy/sandbox/index.js';
import type { BindingScope, PolicyService } from './policy/bindings/service.js';
import type { CreateKeyOptions } from './keys/catalog.js';
import type { KeyService } from './keys/service.js';
import type { SealManager } from './seal/index.js';
import type { HolderPublicKey } from '../ceremony/index.js';
import type { AuditIntegrator } from './audit/log/integrator.js';
import type { AuditSigner } from './audit/log/signing.js';
import {
  auditConsistencyProof,
  auditInclusionProof,
  auditRecordsPage,
  auditRecordsRaw,
  exportBundle,
} from './audit/log/read.js';
import type { ApprovalService, ApprovalState } from './approvals/index.js';
import type { Db, KeyRow, StoreDriver } from './store/index.js';
import type { Authorized } from './pipeline.js';
import { writeBackup } from './backup.js';
import { VERSION } from './version.js';
import type { PublicKeyFormat, SignOptions, WrappingAlgorithm } from './crypto/index.js';

/** The services the named operations use (the Hsm's). */
export interface ActionServices {
  db: Db;
  seal: SealManager;
  keys: KeyService;
  policies: PolicyService;
  approvals: ApprovalService;
  tokens: TokenAuthenticator;
  integrator: AuditIntegrator | undefined;
  now: () => Date;
  auditHash: (value: string) => string;
  auditKeys: () => Promise<AuditSigner['keys']>;
  /** The store's driver and this node's name, for a backup's header. */
  driver: StoreDriver;
  node: string;
}

export class Actions<K extends KeyRow | undefined = KeyRow | undefined> {
  readonly #s: ActionServices;
  readonly #a: Authorized<K>;

  constructor(services: ActionServices, authorized: Authorized<K>) {
    this.#s = services;
    this.#a = authorized;
  }

  get principal() {
    return this.#a.principal;
  }
  /** The key the pipeline loaded (keyed operations). */
  get key(): K {
    return this.#a.key;
  }
  get #row(): KeyRow {
    const row = this.#a.key;
    if (!row) throw new TypeError('a keyed operation expected: the pipeline loaded no key');
    return row;
  }
  get #commit() {
    return this.#a.commit;
  }

  // Keys: administration

  createKey(opts: Omit<CreateKeyOptions, 'by' | 'commit'>) {
    return this.#s.keys.create({ ...opts, by: this.principal.principal, commit: this.#commit });
  }
  importKey(opts: Omit<Parameters<KeyService['import']>[0], 'by' | 'commit'>) {
    return this.#s.keys.import({ ...opts, by: this.principal.principal, commit: this.#commit });
  }
  listKeys(opts: { limit: number; after?: string | undefined }) {
    return this.#s.keys.list(opts);
  }
  /**
   * These operations on the key named `name`, loaded now: for a request decided on a key that did not
   * exist yet (`newKey`: transit encrypt's upsert), once its creation (its own request) made it.
   */
  async onCreatedKey(name: string): Promise<Actions<KeyRow>> {
    return new Actions(this.#s, { ...this.#a, key: await this.#s.keys.usable(name) });
  }
  /** The loaded key's info, or (for `key.create`'s upsert) a named key's. */
  keyInfo(name: string = this.#row.name) {
    return this.#s.keys.info(name);
  }
  rotateKey() {
    return this.#s.keys.rotate(this.#row.name, this.#commit);
  }
  configureKey(cfg: Parameters<KeyService['configure']>[1]) {
    return this.#s.keys.configure(this.#row.name, cfg, this.#commit);
  }
  scheduleDeletion() {
    return this.#s.keys.scheduleDeletion(this.#row.name, this.#commit);
  }
  wrappingKey(algorithm: WrappingAlgorithm) {
    return this.#s.keys.wrappingKey(algorithm);
  }
  exportKey(opts: { algorithm: WrappingAlgorithm; wrappingPublicKey: Uint8Array; version?: number | undefined }) {
    return this.#s.keys.export(this.#row, opts);
  }
  exportMaterial(version: number) {
    return this.#s.keys.exportMaterial(this.#row, version);
  }

  // Keys: data plane

  encrypt(plaintext: Uint8Array, aad?: Uint8Array) {
    return this.#s.keys.encrypt(this.#row, plaintext, aad);
  }
  decrypt(ciphertext: string, aad?: Uint8Array, keyVersion?: number) {
    return this.#s.keys.decrypt(this.#row, ciphertext, aad, keyVersion);
  }
  rewrap(ciphertext: string, aad?: Uint8Array, keyVersion?: number) {
    return this.#s.keys.rewrap(this.#row, ciphertext, aad, keyVersion);
  }
  datakey(bytes: number | undefined, aad?: Uint8Array) {
    return this.#s.keys.datakey(this.#row, bytes, aad);
  }
  sign(message: Uint8Array, opts: SignOptions) {
    return this.#s.keys.sign(this.#row, message, opts);
  }
  verify(message: Uint8Array, signature: string, opts: SignOptions & { keyVersion?: number | undefined }) {
    return this.#s.keys.verify(this.#row, message, signature, opts);
  }
  hmac(message: Uint8Array, version?: number) {
    return this.#s.keys.hmac(this.#row, message, version);
  }
  encapsulate() {
    return this.#s.keys.encapsulate(this.#row);
  }
  decapsulate(ciphertext: Uint8Array, version?: number) {
    return this.#s.keys.decapsulate(this.#row, ciphertext, version);
  }
  publicKey(format: PublicKeyFormat) {
    return this.#s.keys.publicKey(this.#row, format);
  }

  // Policies

  pushPolicy(wasm: Uint8Array, name: string) {
    return this.#s.policies.push(wasm, name, this.principal.principal, this.#commit);
  }
  listPolicies() {
    return this.#s.policies.list();
  }
  activatePolicy(hash: string, scope: BindingScope, key: string | undefined) {
    return this.#s.policies.activate(hash, scope, key, this.principal.principal, this.#commit);
  }
  deactivatePolicy(hash: string, scope: BindingScope, key: string | undefined) {
    return this.#s.policies.deactivate(hash, scope, key, this.#commit);
  }
  /** A dry run: the composed decision of the policies that would apply. */
  evaluatePolicies(input: PolicyInput) {
    return this.#s.policies.decide(input);
  }
  /** A dry run of one stored policy. */
  evaluatePolicy(hash: string, input: PolicyInput) {
    return this.#s.policies.evaluateOne(hash, input);
  }

  // Tokens

  issueToken(opts: { principal: string; roles: string[]; ttlSeconds: number }) {
    return issueToken(this.#s.db, {
      ...opts,
      createdBy: this.principal.principal,
      now: this.#s.now(),
      commit: this.#commit,
    });
  }
  revokeToken(id: string) {
    return this.#s.tokens.revoke(id, this.#s.now(), this.#commit);
  }

  // Approvals

  listApprovals(q: { state?: ApprovalState | undefined; limit: number; after?: string | undefined }) {
    return this.#s.approvals.list(this.principal, q);
  }
  approval(id: string) {
    return this.#s.approvals.get(id, this.principal);
  }
  approve(id: string) {
    return this.#s.approvals.approve(id, this.principal, this.#commit);
  }
  deny(id: string, reason: string | undefined) {
    return this.#s.approvals.deny(id, this.principal, reason, this.#commit);
  }
  assertExecutable(id: string) {
    return this.#s.approvals.assertExecutable(id, this.principal);
  }

  // The audit log

  auditKeys() {
    return this.#s.auditKeys();
  }
  /** A checkpoint signed now (with `fresh`) or the newest; undefined when none can be (sealed, auditing off). */
  checkpoint(opts: { fresh?: boolean } = {}) {
    return this.#s.integrator?.integrate(opts.fresh ? { fresh: true } : undefined);
  }
  auditPage(from: number, to: number) {
    return auditRecordsPage(this.#s.db, from, to);
  }
  /** The same records as stored (the raw page format: engine/audit/verifier/records-page.ts). */
  auditPageRaw(from: number, to: number) {
    return auditRecordsRaw(this.#s.db, from, to);
  }
  inclusionProof(index: number, size: number) {
    return auditInclusionProof(this.#s.db, index, size);
  }
  consistencyProof(from: number, to: number) {
    return auditConsistencyProof(this.#s.db, from, to);
  }
  auditHash(value: string) {
    return this.#s.auditHash(value);
  }
  /** The attestation bundle of [from, to) (defaults: everything signed) against `checkpoint`. */
  async exportAudit(
    checkpoint: { size: number; note: string },
    opts: { from?: number | undefined; to?: number | undefined; includeInputs: boolean; includeWasm: boolean },
  ) {
    return exportBundle({ store: { db: this.#s.db }, seal: this.#s.seal }, checkpoint, {
      from: opts.from ?? 0,
      to: opts.to ?? checkpoint.size,
      includeInputs: opts.includeInputs,
      includeWasm: opts.includeWasm,
      keys: await this.#s.auditKeys(),
    });
  }

  // The HSM

  seal() {
    return this.#s.seal.seal();
  }
  rotateRoot() {
    return this.#s.seal.rotate(this.#commit);
  }
  startRekey(holders: readonly HolderPublicKey[], threshold: number) {
    return this.#s.seal.startRekey(holders, threshold);
  }
  cancelRekey() {
    return this.#s.seal.cancelRekey();
  }
  /** A backup of the whole store into `file` (engine/backup.ts). */
  backup(file: string) {
    const { db, seal, now, driver, node } = this.#s;
    return writeBackup({ db, barrier: seal.barrier, now, driver, node, version: VERSION }, file);
  }
}
