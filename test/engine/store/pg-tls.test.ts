/**
 * PostgreSQL over TLS (engine/store/pg-tls.ts; docs/operations.md, "TLS"): a throwaway cluster
 * (test/faults/pg-cluster.ts) started with `ssl=on` and a server certificate the `openssl` CLI made
 * for the name `localhost` only. verify-full succeeds with the right CA and the right name, and
 * fails with a wrong CA or a name the certificate lacks; verify-ca checks the chain only; require
 * encrypts without checking; disable does not encrypt; a bad sslmode or CA file is a clear error.
 *
 * PostgreSQL only: it runs in the PostgreSQL pass (KEYWARD_TEST_DRIVER=postgres) where the server
 * binaries are found, and is skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { openStore } from '../../../engine/store/index.js';
import { PgCluster, findPgBin } from '../../faults/pg-cluster.js';
import { defaultTestDriver } from '../../helpers/store.js';
import { TestPki } from '../../helpers/tls.js';
import type { Pair } from '../../helpers/tls.js';

const bin = findPgBin();
const skip =
  defaultTestDriver() !== 'postgres'
    ? 'PostgreSQL pass only (KEYWARD_TEST_DRIVER=postgres)'
    : bin === undefined
      ? 'no PostgreSQL server binaries (KEYWARD_PG_BIN)'
      : false;

// A skipped describe is not counted in the summary: one skipped test is (as describePostgres does).
if (skip) describe('PostgreSQL over TLS (sslmode, sslrootcert)', () => it('runs on PostgreSQL', { skip }, () => {}));
else
  describe('PostgreSQL over TLS (sslmode, sslrootcert)', { timeout: 120_000 }, () => {
    const pki = new TestPki();
    let ca: Pair;
    let wrongCa: Pair;
    let cluster: PgCluster;

    before(async () => {
      ca = pki.ca('db-ca');
      wrongCa = pki.ca('wrong-ca');
      const server = pki.issue(ca, 'db', { san: 'DNS:localhost' });
      cluster = await PgCluster.create(bin!, { ssl: server });
    });
    after(() => {
      cluster?.destroy();
      pki.destroy();
    });

    const url = (host: string, params: string) => `postgres://postgres@${host}:${cluster.port}/postgres?${params}`;

    /** Opens the store at `u` and says whether its connection is encrypted (pg_stat_ssl). */
    async function encrypted(u: string): Promise<boolean> {
      const store = await openStore({ databaseUrl: u });
      try {
        const rows = (await store.db.execute(
          sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`,
        )) as unknown as {
          ssl: boolean;
        }[];
        return rows[0]!.ssl;
      } finally {
        await store.close();
      }
    }

    it('verify-full succeeds with the right CA and the name in the certificate', async () => {
      assert.equal(await encrypted(url('localhost', `sslmode=verify-full&sslrootcert=${ca.cert}`)), true);
      // sslrootcert alone means verify-full.
      assert.equal(await encrypted(url('localhost', `sslrootcert=${ca.cert}`)), true);
    });

    it('verify-full fails with a wrong CA, and with a name the certificate lacks', async () => {
      await assert.rejects(
        openStore({ databaseUrl: url('localhost', `sslmode=verify-full&sslrootcert=${wrongCa.cert}`) }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'STORAGE_UNAVAILABLE');
          assert.match(err.message, /cannot open PostgreSQL at .*: .*(self-signed|unable to verify|certificate)/i);
          return true;
        },
      );
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslmode=verify-full&sslrootcert=${ca.cert}`) }),
        (err: Error) => {
          assert.match(err.message, /IP: 127\.0\.0\.1 is not in the cert's list/);
          return true;
        },
      );
    });

    it('verify-ca checks the chain but not the name; require encrypts unchecked; disable does not encrypt', async () => {
      assert.equal(await encrypted(url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${ca.cert}`)), true);
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${wrongCa.cert}`) }),
        /(self-signed|unable to verify)/i,
      );
      assert.equal(await encrypted(url('127.0.0.1', 'sslmode=require')), true);
      assert.equal(await encrypted(url('127.0.0.1', 'sslmode=disable')), false);
    });

    it('a bad sslmode or an unreadable CA file is a clear error', async () => {
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', 'sslmode=verify-all') }),
        /expected sslmode disable, allow, prefer, require, verify-ca, verify-full in the database URL, got "verify-all"/,
      );
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslrootcert=${pki.dir}/none.pem`) }),
        /cannot read sslrootcert .*none\.pem from the database URL: ENOENT/,
      );
    });
  });
