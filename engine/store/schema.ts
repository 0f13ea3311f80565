/**
 * The database schema of Keyward: every table, in one file (docs/architecture.md, "The parts" (engine/store)). drizzle-kit generates the
 * SQL migrations in ./migrations from this file (`npm run db:generate -- --name <what>`); they are
 * committed and never edited by hand.
 *
 * The store is untrusted: it holds only ciphertexts (root key, keyring, barrier entries), public
 * commitments, and hashes of tokens. Encryption is engine/seal's job; the store sees bytes.
 * @module
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { bytea, createdAt, timestamps, timestamptz, updatedAt } from './columns.js';
import type { KeyType } from '../crypto/types.js';

/** The row id of the single-row tables (seal_config, keyring). */
export const SINGLETON_ID = 1;
/** Largest number of shares a ceremony can split into (GF(256) Shamir). */
export const MAX_SHARES = 255;

/** One shard holder of the current ceremony, as recorded in seal_config.holders. */
export interface SealHolder {
  /** The holder's name from their public key file. */
  name: string;
  /** Fingerprint of the holder's public key. */
  fingerprint: string;
  /** The Shamir share index handed to this holder. */
  index: number;
}

/**
 * The seal configuration: one row (id = 1), replaced at init and at every rekey. `root_key_blob` is
 * the root key encrypted under the unseal key.
 */
export const sealConfig = pgTable(
  'seal_config',
  {
    id: integer('id').primaryKey().default(SINGLETON_ID),
    ceremonyId: text('ceremony_id').notNull(),
    /** 1 at init, +1 at every rekey. */
    generation: integer('generation').notNull(),
    threshold: integer('threshold').notNull(),
    shares: integer('shares').notNull(),
    holders: jsonb('holders').$type<SealHolder[]>().notNull(),
    rootKeyBlob: bytea('root_key_blob').notNull(),
    ...timestamps,
  },
  (t) => [
    check('seal_config_singleton', sql`${t.id} = 1`),
    check('seal_config_generation_positive', sql`${t.generation} >= 1`),
    check(
      'seal_config_quorum',
      sql`${t.threshold} >= 1 AND ${t.threshold} <= ${t.shares} AND ${t.shares} <= ${sql.raw(String(MAX_SHARES))}`,
    ),
  ],
);

/**
 * A commitment per shard of a ceremony (a hash binding ceremony id, index and share), so a wrong,
 * forged, foreign or duplicated shard is rejected before combining. Only the current ceremony's
 * rows are kept.
 */
export const shardCommitments = pgTable(
  'shard_commitments',
  {
    ceremonyId: text('ceremony_id').notNull(),
    idx: integer('idx').notNull(),
    holder: text('holder').notNull(),
    fingerprint: text('fingerprint').notNull(),
    commitment: bytea('commitment').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.ceremonyId, t.idx] }),
    check('shard_commitments_idx_range', sql`${t.idx} >= 0 AND ${t.idx} <= ${sql.raw(String(MAX_SHARES))}`),
  ],
);

/** The keyring (barrier keys with terms), encrypted under the root key: one row (id = 1). */
export const keyring = pgTable(
  'keyring',
  {
    id: integer('id').primaryKey().default(SINGLETON_ID),
    blob: bytea('blob').notNull(),
    activeTerm: integer('active_term').notNull(),
    ...updatedAt,
  },
  (t) => [
    check('keyring_singleton', sql`${t.id} = 1`),
    check('keyring_active_term_positive', sql`${t.activeTerm} >= 1`),
  ],
);

/** Every secret at rest, encrypted by the barrier; the AAD binds each blob to its path. */
export const barrierEntries = pgTable('barrier_entries', {
  path: text('path').primaryKey(),
  blob: bytea('blob').notNull(),
  ...updatedAt,
});

/** API tokens. Only a hash of the token is stored; `id` is the public handle (accessor). */
export const tokens = pgTable('tokens', {
  id: text('id').primaryKey(),
  tokenHash: bytea('token_hash').notNull().unique('tokens_token_hash_unique'),
  principal: text('principal').notNull(),
  roles: jsonb('roles').$type<string[]>().notNull(),
  ...createdAt,
  expiresAt: timestamptz('expires_at'),
  revokedAt: timestamptz('revoked_at'),
  createdBy: text('created_by'),
});

/**
 * Policies by identity: the SHA-256 (hex) of the exact .wasm bytes, validated before insert. Rows
 * are immutable; the same bytes pushed twice are one row.
 */
export const policies = pgTable(
  'policies',
  {
    sha256: text('sha256').primaryKey(),
    name: text('name').notNull(),
    wasm: bytea('wasm').notNull(),
    ...createdAt,
    createdBy: text('created_by'),
  },
  (t) => [check('policies_sha256_hex', sql`${t.sha256} ~ '^[0-9a-f]{64}$'`)],
);

/**
 * Active policy bindings: `scope` 'global' (target '') or 'key' (target = key name). Every global
 * binding and every binding of a request's key is evaluated; any deny wins (docs/architecture.md, "A request, step by step").
 */
export const policyBindings = pgTable(
  'policy_bindings',
  {
    sha256: text('sha256')
      .notNull()
      .references(() => policies.sha256),
    scope: text('scope').$type<'global' | 'key'>().notNull(),
    target: text('target').notNull(),
    activatedAt: timestamptz('activated_at').defaultNow().notNull(),
    activatedBy: text('activated_by'),
  },
  (t) => [
    primaryKey({ columns: [t.sha256, t.scope, t.target] }),
    check(
      'policy_bindings_scope',
      sql`(${t.scope} = 'global' AND ${t.target} = '') OR (${t.scope} = 'key' AND ${t.target} <> '')`,
    ),
  ],
);

/**
 * Named keys (metadata only). Private material of each version lives in barrier_entries at
 * `keys/<id>/v<version>`, encrypted under the barrier; `id` is random and bound into every
 * ciphertext, so a deleted and re-created name can't decrypt the old one's data.
 */
export const keys = pgTable(
  'keys',
  {
    name: text('name').primaryKey(),
    id: text('id').notNull().unique('keys_id_unique'),
    /** One of engine/crypto/types.ts's KEY_TYPES (typed in TypeScript only: no CHECK, no migration). */
    type: text('type').$type<KeyType>().notNull(),
    exportable: boolean('exportable').notNull().default(false),
    /** Created from a public key: verify/encapsulate only. */
    verifyOnly: boolean('verify_only').notNull().default(false),
    labels: jsonb('labels').$type<Record<string, string>>().notNull(),
    latestVersion: integer('latest_version').notNull(),
    minDecryptionVersion: integer('min_decryption_version').notNull().default(1),
    deletionAllowed: boolean('deletion_allowed').notNull().default(false),
    /**
     * ECDSA only: verification rejects high-S signatures (s > n/2). Default false: both (r, s) and
     * (r, n−s) verify, as FIPS 186-5 says (engine/crypto/sign.ts).
     */
    requireLowS: boolean('require_low_s').notNull().default(false),
    /** Set when deletion is scheduled: the key refuses every operation from then on. */
    deleteAfter: timestamptz('delete_after'),
    createdBy: text('created_by'),
    ...timestamps,
  },
  (t) => [
    check(
      'keys_versions',
      sql`${t.latestVersion} >= 1 AND ${t.minDecryptionVersion} >= 1 AND ${t.minDecryptionVersion} <= ${t.latestVersion}`,
    ),
  ],
);

/** One row per key version: its public key (asymmetric types) and when it was made. */
export const keyVersions = pgTable(
  'key_versions',
  {
    keyName: text('key_name')
      .notNull()
      .references(() => keys.name, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    publicKey: bytea('public_key'),
    ...createdAt,
  },
  (t) => [primaryKey({ columns: [t.keyName, t.version] })],
);

/**
 * The audit log's append head (docs/architecture.md, "The audit log"): one row. Every append statement takes its contiguous
 * index range from `size` under this row's lock, so commit order is index order and the committed
 * records are always a gap-free prefix, with several nodes on one database and no SEQUENCE.
 * `chain` is the chain value of the newest record; `prev_chain` the one before the last append.
 */
export const auditHead = pgTable(
  'audit_head',
  {
    id: integer('id').primaryKey().default(SINGLETON_ID),
    size: bigint('size', { mode: 'number' }).notNull(),
    chain: bytea('chain').notNull(),
    prevChain: bytea('prev_chain').notNull(),
  },
  (t) => [check('audit_head_singleton', sql`${t.id} = 1`), check('audit_head_size', sql`${t.size} >= 0`)],
);

/**
 * The audit records, one row per committed batch (docs/architecture.md, "The audit log"; the unit of
 * storage of Certificate Transparency's tiled logs): records [first, first + n). `leaves` is their
 * exact RFC 8785 texts joined by "\n" (canonical JSON never holds a raw line feed, and UTF-8 never
 * uses byte 0x0A inside a character, so the join is unambiguous); `chains` their chain values, 32
 * bytes each, chain_i = SHA-256(chain_{i-1} ‖ leaf hash_i), computed in Node by the append (they let
 * verification name the first edited record). `inputs` is the batch's policy inputs in one barrier
 * blob (path `audit/inputs/<first>`), or null. The Merkle tree and its signed checkpoints are what
 * make the log tamper-evident. (Migration 0008 converted the per-record `audit_records` table of
 * earlier releases into batches and left a read-only view of that name.)
 */
export const auditBatches = pgTable(
  'audit_batches',
  {
    first: bigint('first', { mode: 'number' }).primaryKey(),
    n: integer('n').notNull(),
    leaves: text('leaves').notNull(),
    chains: bytea('chains').notNull(),
    inputs: bytea('inputs'),
  },
  (t) => [check('audit_batches_n', sql`${t.n} > 0 and ${t.first} >= 0`)],
);

/**
 * The integrated tree: one row, advanced only by compare-and-set on `size`, so a stale integrator
 * cannot fork it. `frontier` is the concatenated hashes of the perfect subtrees on the right edge.
 */
export const auditTree = pgTable(
  'audit_tree',
  {
    id: integer('id').primaryKey().default(SINGLETON_ID),
    size: bigint('size', { mode: 'number' }).notNull(),
    root: bytea('root').notNull(),
    frontier: bytea('frontier').notNull(),
    ...updatedAt,
  },
  (t) => [check('audit_tree_singleton', sql`${t.id} = 1`)],
);

/**
 * The tree's hashes as C2SP tlog-tiles lays them out: tile (level, idx) holds the hashes of tree
 * level 8·level, nodes [256·idx, 256·idx + width), concatenated (width = length / 32, at most 256).
 * Level 0 tiles are the leaf hashes. The last tile of a level grows as the tree does (its row is
 * rewritten with more hashes); the levels between tile levels are folded from a tile when a proof needs
 * them (engine/audit/math/tiles.ts). Migration 0010 built these from the per-node rows before it.
 */
export const auditTiles = pgTable(
  'audit_tiles',
  {
    level: integer('level').notNull(),
    idx: bigint('idx', { mode: 'number' }).notNull(),
    hashes: bytea('hashes').notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/** Signed checkpoints (C2SP signed notes), one per integrated size. */
export const auditCheckpoints = pgTable('audit_checkpoints', {
  size: bigint('size', { mode: 'number' }).primaryKey(),
  root: bytea('root').notNull(),
  note: text('note').notNull(),
  ...createdAt,
});

/**
 * Policy inputs by their SHA-256 (hex), each encrypted under the barrier on its own (path
 * `audit/input/<digest>`): what releases before 0008 wrote, and what a node still running one writes
 * during an upgrade. Newer nodes keep a batch's inputs in its `audit_batches.inputs` blob.
 */
export const auditInputs = pgTable('audit_inputs', {
  digest: text('digest').primaryKey(),
  blob: bytea('blob').notNull(),
  ...createdAt,
});

/** The states of an approval (docs/approvals.md): pending until denied, expired or executed once. */
export const APPROVAL_STATES = ['pending', 'denied', 'expired', 'executing', 'executed', 'failed'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

/**
 * Requests parked by a `require_approval` decision (dual control). The request itself is not kept:
 * `request_digest` is the audit HMAC of its canonical JSON body (bodies may hold low-entropy
 * secrets, and the store is untrusted), and the requester sends the body again to execute.
 * `state` leaves 'pending' only by a conditional UPDATE, so two nodes never both deny, expire or
 * execute the same approval.
 */
export const approvals = pgTable(
  'approvals',
  {
    id: text('id').primaryKey(),
    requester: text('requester').notNull(),
    operation: text('operation').notNull(),
    key: text('key'),
    method: text('method').notNull(),
    /** Path with query string, as requested. */
    path: text('path').notNull(),
    requestDigest: text('request_digest').notNull(),
    /** SHA-256 of every policy that decided the request, in evaluation order. */
    policies: jsonb('policies').$type<string[]>().notNull(),
    required: integer('required').notNull(),
    /** The role approvers must hold. */
    approverGroup: text('approver_group').notNull(),
    reason: text('reason').notNull(),
    state: text('state').$type<ApprovalState>().notNull().default('pending'),
    expiresAt: timestamptz('expires_at').notNull(),
    ...createdAt,
    /** When it left 'pending' for good (denied, expired, executed or failed). */
    finishedAt: timestamptz('finished_at'),
    deniedBy: text('denied_by'),
    denyReason: text('deny_reason'),
    /** The executed operation's status and error code. */
    resultStatus: integer('result_status'),
    resultCode: text('result_code'),
    /**
     * While 'executing': the lease's end, after which the execution is settled from the audit log
     * (engine/approvals/service.ts, `recoverExecutions`), and the audit log's size when it was
     * claimed (the execution's record, if it committed, is at or after it).
     */
    executionDeadline: timestamptz('execution_deadline'),
    executionAuditFrom: bigint('execution_audit_from', { mode: 'number' }),
    /**
     * Commit order: 1, 2, … as the approvals committed (insertApproval takes the next under a
     * transaction-scoped lock held to its commit), which a list cursor pages by. Ids order by each
     * node's clock and are made before the insert commits, so a cursor by id could pass over one.
     */
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [
    check('approvals_state', sql`${t.state} IN ('pending', 'denied', 'expired', 'executing', 'executed', 'failed')`),
    check('approvals_required', sql`${t.required} >= 1`),
    index('approvals_pending_expiry')
      .on(t.expiresAt)
      .where(sql`${t.state} = 'pending'`),
    index('approvals_state_id').on(t.state, t.id),
    uniqueIndex('approvals_seq').on(t.seq),
    index('approvals_state_seq').on(t.state, t.seq),
    index('approvals_executing_deadline')
      .on(t.executionDeadline)
      .where(sql`${t.state} = 'executing'`),
  ],
);

/** One row per principal who approved: the primary key makes each principal count once. */
export const approvalGrants = pgTable(
  'approval_grants',
  {
    approvalId: text('approval_id')
      .notNull()
      .references(() => approvals.id, { onDelete: 'cascade' }),
    principal: text('principal').notNull(),
    ...createdAt,
  },
  (t) => [primaryKey({ columns: [t.approvalId, t.principal] })],
);

export type SealConfigRow = typeof sealConfig.$inferSelect;
export type NewSealConfigRow = typeof sealConfig.$inferInsert;
export type ShardCommitmentRow = typeof shardCommitments.$inferSelect;
export type NewShardCommitmentRow = typeof shardCommitments.$inferInsert;
export type KeyringRow = typeof keyring.$inferSelect;
export type NewKeyringRow = typeof keyring.$inferInsert;
export type BarrierEntryRow = typeof barrierEntries.$inferSelect;
export type NewBarrierEntryRow = typeof barrierEntries.$inferInsert;
export type TokenRow = typeof tokens.$inferSelect;
export type NewTokenRow = typeof tokens.$inferInsert;
export type PolicyRow = typeof policies.$inferSelect;
export type NewPolicyRow = typeof policies.$inferInsert;
export type PolicyBindingRow = typeof policyBindings.$inferSelect;
export type KeyRow = typeof keys.$inferSelect;
export type NewKeyRow = typeof keys.$inferInsert;
export type KeyVersionRow = typeof keyVersions.$inferSelect;
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
export type ApprovalRow = typeof approvals.$inferSelect;
export type ApprovalGrantRow = typeof approvalGrants.$inferSelect;
export type NewApprovalRow = typeof approvals.$inferInsert;
