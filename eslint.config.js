// ESLint (flat config): the layering of docs/architecture.md ("Dependency direction") as import
// rules, and a few correctness rules that find real bugs. Formatting is prettier's job
// (.prettierrc.json), not ESLint's. `npm run lint`; test/scripts/lint-boundaries.test.ts shows
// each layer rule failing on a bad import.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { layering } from './scripts/eslint-layering.mjs';

// ---------------------------------------------------------------------------------------------------
const DATABASE_MODULES = ['postgres', 'pg', '@electric-sql/pglite', 'drizzle-orm', 'drizzle-kit'];
// Modules that do I/O: the policy sandbox and the ceremony must not import them (their results may
// only depend on their inputs). `node:fs` covers `fs`, `fs/promises` and `node:fs/promises`.
const IO_MODULES = [
  'node:fs',
  'node:net',
  'node:tls',
  'node:dgram',
  'node:dns',
  'node:http',
  'node:https',
  'node:http2',
  'node:child_process',
  'node:cluster',
  'node:worker_threads',
  'node:readline',
  'node:repl',
  'node:inspector',
  ...DATABASE_MODULES,
];
// The engine's pure folders and the offline ones: engine/policy/{sandbox,bindings,toolchain}/ and
// engine/audit/{math,log,verifier}/.

// The policy sandbox (engine/policy/sandbox/): what a module may contain, metering, load/evaluate,
// composition, and the ABI (schema, canonical encoding, JSON input). It does no I/O, and of ours it
// imports only itself and lib/, so no I/O can reach it through another of our files either.
const SANDBOX = ['engine/policy/sandbox/**'];

// The audit math (engine/audit/math/): records, the Merkle tree and proofs, checkpoint notes, bundles
// and their error codes: the bundle verifier (docs/audit-bundle.md), meant to run in a browser. No
// node: module, and of ours only itself and lib/. Not covered: the log side (engine/audit/log/: queue,
// integrator, reads, signing keys) and the Node-only whole-log verifier (engine/audit/verifier/:
// worker threads, node:crypto for speed).
const AUDIT_MATH = ['engine/audit/math/**'];

// The offline parts, run by the CLI and the build with no server: the policy toolchain
// (engine/policy/toolchain/: compile, cases, scaffold, abi-gen, paths) and the whole-log verifier
// (engine/audit/verifier/). Files, yes; the database and the server's services, never.
const OFFLINE = ['engine/policy/toolchain/**', 'engine/audit/verifier/**'];
const ONLINE = [
  'engine/store',
  'engine/policy/bindings',
  'engine/audit/log',
  'engine/seal',
  'engine/keys',
  'engine/auth',
  'engine/approvals',
  'engine/hsm',
];

const TS = ['**/*.ts', '**/*.mts'];
const JS = ['**/*.js', '**/*.mjs'];

/** One layer: its own rule name, so a file in several layers gets the checks of each. */
function layer(name, files, options, extra = {}) {
  return {
    name: `keyward/layer/${name}`,
    files,
    ...extra,
    rules: { [`keyward/layer-${name}`]: ['error', options] },
  };
}

export default defineConfig(
  {
    name: 'keyward/ignores',
    ignores: [
      '**/node_modules/',
      'dist/',
      'client/dist/',
      'build/',
      'bench/out/',
      // AssemblyScript (decorators on functions, i32...): not TypeScript's grammar; asc checks it.
      'policies/',
      'test/fixtures/',
      // Generated (npm run gen:client; drizzle-kit).
      'client/src/schema.ts',
      'engine/store/migrations/',
    ],
  },
  {
    name: 'keyward/plugin',
    plugins: {
      keyward: {
        rules: Object.fromEntries(
          [
            'lib',
            'ceremony',
            'ceremony-internals',
            'engine',
            'sandbox',
            'audit-math',
            'offline',
            'server',
            'client',
            'cli',
            'ui',
            'tooling',
          ].map((n) => [`layer-${n}`, layering]),
        ),
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  // -------------------------------------------------------------------------------------------------
  // Correctness: rules that find bugs rather than style, each with (near) zero findings on the code.
  {
    name: 'keyward/correctness',
    files: [...TS, ...JS],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: 'module' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'constructor-super': 'error',
      'for-direction': 'error',
      'getter-return': 'error',
      'no-async-promise-executor': 'error',
      'no-compare-neg-zero': 'error',
      'no-cond-assign': ['error', 'except-parens'],
      'no-constant-binary-expression': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-debugger': 'error',
      'no-dupe-else-if': 'error',
      'no-duplicate-case': 'error',
      'no-empty-pattern': 'error',
      'no-fallthrough': 'error',
      'no-import-assign': 'error',
      'no-loss-of-precision': 'error',
      'no-misleading-character-class': 'error',
      'no-self-assign': 'error',
      'no-self-compare': 'error',
      'no-sparse-arrays': 'error',
      'no-unreachable': 'error',
      'no-unsafe-finally': 'error',
      'no-unsafe-negation': 'error',
      'no-unsafe-optional-chaining': 'error',
      'no-unused-private-class-members': 'error',
      'no-useless-backreference': 'error',
      'use-isnan': 'error',
      'valid-typeof': 'error',
      '@typescript-eslint/no-duplicate-enum-values': 'error',
      '@typescript-eslint/no-misused-new': 'error',
      '@typescript-eslint/no-unsafe-declaration-merging': 'error',
    },
  },
  // Type-aware (about two thirds of the lint time: TypeScript builds the program). A promise nobody
  // awaits loses its rejection (an unhandled rejection ends the process), and an un-awaited
  // assert.rejects() passes whatever happens. Tried and left out: await-thenable (a false positive on
  // a sync-or-async callback in engine/audit/merkle.ts), only-throw-error (engine/approvals throws a
  // Symbol sentinel on purpose), no-ex-assign (cli/base.ts reassigns its catch parameter on purpose).
  {
    name: 'keyward/correctness-typed',
    files: TS,
    // scripts/*.d.mts describe .mjs files outside the TypeScript project.
    ignores: ['scripts/**'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe()/it() return promises the runner itself awaits. (t.test(),
          // a subtest, is not listed: one not awaited is cancelled when its parent ends.)
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-array-delete': 'error',
    },
  },

  // -------------------------------------------------------------------------------------------------
  // The layering. Paths are folders or files (without extension) from the repository root; see
  // scripts/eslint-layering.mjs for how specifiers are resolved.
  //
  //   lib ← ceremony ← engine ← server          client ← cli, ui
  //
  // lib/: the shared kernel, below everything; the bundle verifier and browsers load it.
  layer('lib', ['lib/**'], {
    only: ['lib'],
    modules: ['node:*'],
    message:
      'lib/ is the bottom layer: it imports nothing of ours and no node: module (the audit bundle verifier runs in browsers on it)',
  }),
  // ceremony/: the custody protocol, pure, run on holders' machines.
  layer('ceremony', ['ceremony/**'], {
    only: ['ceremony', 'lib'],
    modules: IO_MODULES,
    message: 'ceremony/ imports only lib/, and does no I/O',
  }),
  // ceremony/bytes (ByteReader, the wire helpers) is the ceremony's own; the shared helpers are lib/.
  // (ceremony/errors is gone: lib/errors.) Its own tests may import it.
  layer(
    'ceremony-internals',
    TS.concat(JS),
    {
      forbid: ['ceremony/bytes', 'ceremony/errors'],
      message: 'byte helpers and errors come from lib/ (lib/bytes, lib/errors), not from ceremony/',
    },
    { ignores: ['ceremony/**', 'test/ceremony/**'] },
  ),
  // engine/: the HSM core, under the server and the CLI, knows neither (nor the HTTP client).
  layer('engine', ['engine/**'], {
    forbid: ['server', 'cli', 'client', 'test', 'bench'],
    message: 'engine/ never imports server/, cli/ or client/ (they import it)',
  }),
  // The policy sandbox: no I/O, no database, no worker threads (see SANDBOX above).
  layer('sandbox', SANDBOX, {
    only: ['engine/policy/sandbox', 'lib'],
    modules: IO_MODULES,
    message:
      'the policy sandbox does no I/O (no files, network, processes, worker threads or database) and imports only itself and lib/',
  }),
  // The audit math, the bundle verifier: no node: module at all, no database (see AUDIT_MATH above).
  layer('audit-math', AUDIT_MATH, {
    only: ['engine/audit/math', 'lib'],
    modules: ['node:*', ...IO_MODULES],
    message:
      'the audit math (the bundle verifier) runs in browsers: no node: modules, and of ours only itself and lib/',
  }),
  // The offline parts: no database, none of the server's services (see OFFLINE above).
  layer('offline', OFFLINE, {
    forbid: ONLINE,
    modules: DATABASE_MODULES,
    message: 'the policy toolchain and the log verifier run offline: no database, no server-side service',
  }),
  layer('server', ['server/**'], {
    forbid: ['cli', 'client', 'test', 'bench'],
    message: 'server/ never imports cli/ or client/',
  }),
  // client/: @keyward/client, a package of its own (published, used in browsers).
  layer('client', ['client/**'], {
    only: ['client'],
    message: '@keyward/client imports nothing of ours outside client/',
  }),
  layer('cli', ['cli/**'], { forbid: ['test', 'bench'], message: 'nothing imports test/ or bench/' }),
  // ui/: the web console, in browsers: the API through @keyward/client, and the offline verifier
  // (engine/audit/math on lib/) for in-browser proofs; nothing else of ours, no node: module.
  layer(
    'ui',
    ['ui/src/**/*.ts', 'ui/src/**/*.tsx'],
    {
      only: ['ui', 'client', 'engine/audit/math', 'lib'],
      modules: ['node:*'],
      message: 'the console talks to the server only through @keyward/client; of the engine it uses the audit math',
    },
    { languageOptions: { parser: tseslint.parser, parserOptions: { ecmaFeatures: { jsx: true } } } },
  ),
  layer('tooling', ['scripts/**', 'drizzle.config.ts'], {
    forbid: ['test', 'bench'],
    message: 'nothing imports test/ or bench/',
  }),
);
