/**
 * The figures of issue 14's table, picked out of the benches' JSON by `npm run bench -- all --json`
 * (bench/run.ts), each with its target and whether it was met. A figure whose bench did not run (or
 * failed, or is not in this tree: bench/crypto.ts) is `not measured`, with the reason.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */

/** One bench's `--json` output. */
type Json = Record<string, any>;

export interface Figure {
  /** What is measured, for people. */
  figure: string;
  value: number | null;
  target: string;
  status: 'met' | 'missed' | 'not measured';
  /** The bench (and where in its JSON) the value comes from. */
  source: string;
  note?: string;
}

interface Spec {
  id: string;
  figure: string;
  /** `>= x` */
  min: number;
  /** Candidates in order: the first that yields a finite number is the figure. */
  from: Array<{ bench: string; path: string; pick: (j: Json) => unknown; note?: (j: Json) => string | undefined }>;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const pgNote = (j: Json) => {
  const d = j.database ?? {};
  return d.driver === 'postgres'
    ? `PostgreSQL ${d.version} (${d.source}), fsync=${d.fsync}, synchronous_commit=${d.synchronousCommit}`
    : 'no PostgreSQL: in-memory PGlite, not the figure asked for';
};

/**
 * bench/crypto.ts (issue 14 items 3 and 4) is written beside this file by another change: its JSON is
 * searched for a `targets` entry (`{value}`) or any number whose key names the figure, so the
 * exact spelling of its keys does not matter.
 */
function findIn(j: Json, keyTest: RegExp, prefer: RegExp): number | undefined {
  const found: Array<{ key: string; value: number }> = [];
  const walk = (v: unknown, key: string) => {
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const path = key ? `${key}.${k}` : k;
      if (keyTest.test(path)) {
        const n = num(x) ?? num((x as Json | null)?.value);
        if (n !== undefined) found.push({ key: path, value: n });
      }
      walk(x, path);
    }
  };
  walk(j, '');
  return (found.find((f) => /^targets\./.test(f.key) && prefer.test(f.key)) ?? found.find((f) => prefer.test(f.key)))
    ?.value;
}

/** bench/crypto's rows as it printed them while this was written: `cases: [{case, keyward, baseline, ratio}]`. */
function cryptoCase(j: Json, label: RegExp, field: 'ratio' | 'keyward'): number | undefined {
  if (!Array.isArray(j.cases)) return undefined;
  const row = (j.cases as Json[]).find((c) => label.test(String(c.case ?? c.id ?? c.label ?? '')));
  return num(row?.[field]);
}

const SPECS: Spec[] = [
  {
    id: 'encryptPipelineOverBarePglite',
    figure: '1 KiB encrypt, full pipeline ÷ bare Koa AES-GCM endpoint (dev server, PGlite)',
    min: 0.5,
    from: [{ bench: 'api', path: 'encryptPipelineOverBare', pick: (j) => j.encryptPipelineOverBare }],
  },
  {
    id: 'encryptPipelineOverBarePglite_autocannon',
    figure: 'the same under autocannon -c 16 (an external load generator)',
    min: 0.5,
    from: [{ bench: 'api', path: 'autocannon.pipelineOverBare', pick: (j) => j.autocannon?.pipelineOverBare }],
  },
  {
    id: 'encryptPipelineOverBarePostgres',
    figure: '1 KiB encrypt, full pipeline (audit on) ÷ bare endpoint, PostgreSQL fsync on',
    min: 0.5,
    from: [{ bench: 'audit', path: 'encrypt1k.onOverBare', pick: (j) => j.encrypt1k?.onOverBare, note: pgNote }],
  },
  {
    id: 'encryptPipelineOverBarePostgres_autocannon',
    figure: 'the same under autocannon (an external load generator)',
    min: 0.5,
    from: [
      {
        bench: 'audit',
        path: 'encrypt1k.autocannon.onOverBare',
        pick: (j) => j.encrypt1k?.autocannon?.onOverBare,
        note: pgNote,
      },
    ],
  },
  {
    id: 'encryptAuditOnOverOffPostgres',
    figure: '1 KiB encrypt, audit on ÷ off, PostgreSQL fsync on',
    min: 0.8,
    from: [{ bench: 'audit', path: 'encrypt1k.onOverOff', pick: (j) => j.encrypt1k?.onOverOff, note: pgNote }],
  },
  {
    id: 'encryptAuditOnOverOffPostgres_autocannon',
    figure: 'the same under autocannon (an external load generator)',
    min: 0.8,
    from: [
      {
        bench: 'audit',
        path: 'encrypt1k.autocannon.onOverOff',
        pick: (j) => j.encrypt1k?.autocannon?.onOverOff,
        note: pgNote,
      },
    ],
  },
  {
    id: 'ed25519SignInProcessOverNodeCrypto',
    figure: 'Ed25519 sign in-process (engine/crypto) ÷ node:crypto sign on a cached KeyObject',
    min: 0.8,
    from: [
      {
        bench: 'crypto',
        path: 'ed25519 ratio',
        pick: (j) => cryptoCase(j, /ed25519 sign/i, 'ratio') ?? findIn(j, /ed25519/i, /ratio|over|vs/i),
      },
    ],
  },
  {
    id: 'ecdsaP256SignInProcessOverNodeCrypto',
    figure: 'ECDSA P-256 sign in-process ÷ node:crypto sign on a cached KeyObject',
    min: 0.8,
    from: [
      {
        bench: 'crypto',
        path: 'ecdsa-p256 ratio',
        pick: (j) => cryptoCase(j, /p-?256 sign/i, 'ratio') ?? findIn(j, /p-?256|ecdsa/i, /ratio|over|vs/i),
      },
    ],
  },
  {
    id: 'mlDsa65SignPerSec',
    figure: 'ML-DSA-65 sign per core, per second',
    min: 1000,
    from: [
      {
        bench: 'crypto',
        path: 'ml-dsa-65 sign/s',
        pick: (j) =>
          cryptoCase(j, /ml-dsa-65 sign/i, 'keyward') ?? findIn(j, /ml-?dsa-?65/i, /per ?s|ops|rate|\/s|sign/i),
      },
      {
        bench: 'api',
        path: 'cases.mlDsa65Sign.inProcess.opsPerSec',
        pick: (j) => j.cases?.mlDsa65Sign?.inProcess?.opsPerSec,
        note: () => "bench/api's in-process ceiling (the default backend, one thread): bench/crypto did not run",
      },
    ],
  },
  {
    id: 'mlKem768DecapsulatePerSec',
    figure: 'ML-KEM-768 decapsulate per core, per second',
    min: 5000,
    from: [
      {
        bench: 'crypto',
        path: 'ml-kem-768 decapsulate/s',
        pick: (j) =>
          cryptoCase(j, /ml-kem-768 decap/i, 'keyward') ?? findIn(j, /ml-?kem-?768/i, /per ?s|ops|rate|\/s|decap/i),
      },
      {
        bench: 'api',
        path: 'cases.mlKem768Decapsulate.inProcess.opsPerSec',
        pick: (j) => j.cases?.mlKem768Decapsulate?.inProcess?.opsPerSec,
        note: () => "bench/api's in-process ceiling (the default backend, one thread): bench/crypto did not run",
      },
    ],
  },
  {
    id: 'auditVerifyFetchVerifyRecordsPerSec',
    figure: '`audit verify`, fetch + verify from the database, records/s',
    min: 100_000,
    from: [
      {
        bench: 'audit',
        path: 'verify.endToEnd.recordsPerSec',
        pick: (j) => j.verify?.endToEnd?.recordsPerSec,
        note: pgNote,
      },
    ],
  },
  {
    id: 'auditVerifyHttpRecordsPerSecPglite',
    figure: '`keyward audit verify` over HTTP, records/s (server on PGlite)',
    min: 50_000,
    from: [
      {
        bench: 'verify',
        path: 'drivers.pglite.cli.recordsPerSec',
        pick: (j) => j.drivers?.pglite?.cli?.recordsPerSec,
        note: (j) => `${j.drivers?.pglite?.records} records`,
      },
    ],
  },
  {
    id: 'auditVerifyHttpRecordsPerSecPostgres',
    figure: '`keyward audit verify` over HTTP, records/s (server on PostgreSQL)',
    min: 50_000,
    from: [
      {
        bench: 'verify',
        path: 'drivers.postgres.cli.recordsPerSec',
        pick: (j) => j.drivers?.postgres?.cli?.recordsPerSec,
        note: (j) => `${j.drivers?.postgres?.records} records; ${pgNote(j.drivers?.postgres ?? {})}`,
      },
    ],
  },
];

/** Issue 14's table from the benches' figures (`undefined`: the bench did not run or failed, with why). */
export function issueTable(
  benches: Record<string, { figures?: Json; error?: string } | undefined>,
): Record<string, Figure> {
  const out: Record<string, Figure> = {};
  for (const s of SPECS) {
    const target = `>= ${s.min}`;
    let figure: Figure | undefined;
    const why: string[] = [];
    for (const c of s.from) {
      const b = benches[c.bench];
      if (!b?.figures) {
        why.push(b ? `bench/${c.bench} failed: ${b.error ?? '?'}` : `bench/${c.bench} did not run`);
        continue;
      }
      const value = num(c.pick(b.figures));
      if (value === undefined) {
        why.push(`bench/${c.bench} has no ${c.path}`);
        continue;
      }
      const note = c.note?.(b.figures);
      figure = {
        figure: s.figure,
        value,
        target,
        status: value >= s.min ? 'met' : 'missed',
        source: `${c.bench}: ${c.path}`,
        ...(note ? { note } : {}),
      };
      break;
    }
    out[s.id] = figure ?? {
      figure: s.figure,
      value: null,
      target,
      status: 'not measured',
      source: s.from.map((c) => `${c.bench}: ${c.path}`).join(' | '),
      note: why.join('; '),
    };
  }
  return out;
}
