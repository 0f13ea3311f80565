/**
 * Column groups and column types shared by the tables in schema.ts (drizzle's "columns helper"
 * pattern: one definition, spread into each table).
 * @module
 */
import { sql } from 'drizzle-orm';
import { customType, timestamp } from 'drizzle-orm/pg-core';

/**
 * Makes a plain `Uint8Array` view of bytes from either driver: PGlite returns a `Uint8Array`,
 * postgres-js a `Buffer` (a Uint8Array subclass, often a slice of a shared pool). The view shares
 * memory with what the driver returned; no bytes are copied.
 */
export function toPlainBytes(value: Uint8Array): Uint8Array {
  if (value.constructor === Uint8Array) return value;
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * PostgreSQL `bytea`, as `Uint8Array` on both drivers. Both drivers send a `Uint8Array` parameter as
 * bytea as it is (postgres-js infers type 17 from `instanceof Uint8Array`), so `toDriver` is the
 * identity.
 */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return 'bytea';
  },
  toDriver(value: Uint8Array): Uint8Array {
    return value;
  },
  fromDriver(value: Uint8Array): Uint8Array {
    return toPlainBytes(value);
  },
});

/** A `timestamptz` column read and written as `Date`. */
export function timestamptz<N extends string>(name: N) {
  return timestamp(name, { withTimezone: true, mode: 'date' });
}

/** `created_at`: set by the database at insert. */
export const createdAt = {
  createdAt: timestamptz('created_at').defaultNow().notNull(),
};

/**
 * `updated_at`: set at insert, and to now() by every drizzle `update()` (upserts in repos.ts set it
 * explicitly, since `$onUpdate` does not reach `onConflictDoUpdate`).
 */
export const updatedAt = {
  updatedAt: timestamptz('updated_at')
    .defaultNow()
    .notNull()
    .$onUpdate(() => sql`now()`),
};

/** Both timestamps, for tables whose rows are created once and then changed. */
export const timestamps = { ...createdAt, ...updatedAt };
