/**
 * drizzle-kit configuration: `npm run db:generate -- --name <what>` writes a SQL migration for every
 * change to engine/store/schema.ts. Migrations are committed as generated and applied at start by
 * engine/store/driver.ts, which names the same bookkeeping table and schema.
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './engine/store/schema.ts',
  out: './engine/store/migrations',
  migrations: { table: '__drizzle_migrations__', schema: 'drizzle' },
  strict: true,
  verbose: true,
});
