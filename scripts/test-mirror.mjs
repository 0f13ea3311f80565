// The test mirror: Keyward's TypeScript compiled once into plain JavaScript, so `npm test` runs its
// test processes with no module hooks at all (scripts/test.mjs). Node 20 runs a registered hook
// (scripts/ts-hook.mjs) on a thread of its own and asks it about every module a process loads:
// importing the server costs 0.85 s of CPU that way and 0.45 s as plain JavaScript, in each of the
// hundred-odd processes of a run.
//
// The mirror is a copy of the repository's layout under node_modules/.cache/keyward-test/ (ignored
// by git, eslint and prettier, and inside the project, so bare imports still find node_modules):
//
// - every TypeScript file of the project becomes `x.js` beside a symlink `x.ts` to its source. The
//   project is tsconfig.json's `include`/`exclude` (the folders typecheck compiles; another
//   folder with a build of its own, such as a Vite app, is left alone), plus any `.ts` file that a
//   compiled one imports by a relative `.js` path or that the run names, so a new folder works
//   before tsconfig lists it. Compiled one file at a time with esbuild (the types dropped, as in
//   ts-hook.mjs), with a source map (`x.js.map`) naming the source, so stack traces point at the `.ts`.
// - every other file or folder is a symlink to the real one (fixtures, build/, docs/, the
//   AssemblyScript policies, package.json...), so paths a test makes from `import.meta.url` reach the
//   same files as from the source, and Node (which resolves symlinks) loads .mjs/.json from the
//   real tree.
// - node_modules/ holds a symlink per package, except the npm workspaces (@keyward/client): those
//   point into the mirror, with their package.json's `.ts` export targets renamed `.js`, so the
//   keyward-source condition loads the compiled client sources.
//
// Files are recompiled only when their size or modification time changed (mirror.json); entries
// that no longer exist in the tree are removed. Writes are write-then-rename.
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPTIONS } from './ts-hook.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MIRROR = join(ROOT, 'node_modules', '.cache', 'keyward-test');
const MANIFEST = join(MIRROR, '.mirror.json');

const COMPILED_EXT = { '.ts': '.js', '.mts': '.mjs' };
const compiledExt = (name) =>
  name.endsWith('.d.ts') || name.endsWith('.d.mts')
    ? undefined
    : Object.keys(COMPILED_EXT).find((e) => name.endsWith(e));
/** `engine/x.ts` → `engine/x.js`. */
export function compiledName(rel) {
  const ext = compiledExt(rel);
  return ext ? rel.slice(0, -ext.length) + COMPILED_EXT[ext] : rel;
}
/** The mirror path of a repository path (a `.ts` file: its compiled `.js`). */
export function mirrorPath(file) {
  return join(MIRROR, compiledName(relative(ROOT, file)));
}

const posix = (rel) => rel.split(sep).join('/');

// ---------------------------------------------------------------------------------------------------
// Which files: tsconfig.json's include/exclude

/** tsconfig.json (JSON with comments and trailing commas). */
function readTsconfig() {
  const text = readFileSync(join(ROOT, 'tsconfig.json'), 'utf8');
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2) + 1;
      if (i === 0) break;
    } else out += c;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
}

/**
 * A matcher for tsconfig include/exclude patterns, relative to the root: a plain path names that
 * file or everything under that folder; `*`, `?` and `**` are globs as tsconfig reads them.
 */
function matcher(patterns) {
  const res = patterns.map((p) => {
    const pat = posix(p).replace(/^\.\//, '').replace(/\/$/, '');
    if (!/[*?]/.test(pat)) return (rel) => rel === pat || rel.startsWith(pat + '/');
    const re = pat
      .split('/')
      .map((seg) =>
        seg === '**'
          ? '(?:[^/]+/)*'
          : seg
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]') + '/',
      )
      .join('')
      .replace(/\/$/, '');
    const full = new RegExp(`^${re}$`);
    const under = new RegExp(`^${re}/`);
    return (rel) => full.test(rel) || under.test(rel);
  });
  return (rel) => res.some((m) => m(rel));
}

/** Relative paths of the project's TypeScript files, per tsconfig.json. */
function projectFiles() {
  const config = readTsconfig();
  const include = matcher(config.include ?? ['**/*']);
  const exclude = matcher(config.exclude ?? ['node_modules']);
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.') && !exclude(r)) walk(r);
      } else if (e.isFile() && compiledExt(e.name) && include(r) && !exclude(r)) out.push(r);
    }
  };
  walk('');
  return out;
}

/** Relative `.js`/`.mjs` imports of compiled code (esbuild prints every specifier in double quotes). */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)"(\.\.?\/[^"]+\.m?js)"/g;

// ---------------------------------------------------------------------------------------------------
// Building it

/**
 * ts-hook.mjs's options, with each file's source map in a file of its own beside it (`x.js.map`,
 * named by the file's last line) rather than inline: a test process that never reports a location
 * does not read it, where an inline map made every module's text four times as long to load (the
 * server's import: about 0.1 s of CPU more in each test process).
 */
const MIRROR_OPTIONS = { ...OPTIONS, sourcemap: 'external' };

/**
 * Brings the mirror up to date and returns its root. `extra`: repository paths of `.ts` files the
 * caller will run (test files outside tsconfig's include are compiled too).
 */
export async function buildMirror(extra = []) {
  const esbuildVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8'),
  ).version;
  const salt = createHash('sha256')
    .update(JSON.stringify([MIRROR_OPTIONS, esbuildVersion]))
    .digest('hex');
  let manifest = {};
  try {
    const m = JSON.parse(readFileSync(MANIFEST, 'utf8'));
    // Made with other options or another esbuild: everything is compiled again.
    if (m.salt === salt) manifest = m.files;
  } catch {
    // first run, or a torn manifest: everything is compiled again
  }
  const next = {};
  const todo = [...new Set([...projectFiles(), ...extra.map((f) => posix(relative(ROOT, f)))])];
  const compiled = new Set();
  let esbuild;
  let count = 0;
  while (todo.length) {
    const batch = todo.splice(0).filter((rel) => !compiled.has(rel));
    batch.forEach((rel) => compiled.add(rel));
    const outputs = await Promise.all(
      batch.map(async (rel) => {
        const src = join(ROOT, rel);
        const st = statSync(src);
        const out = join(MIRROR, compiledName(rel));
        const prev = manifest[rel];
        let code;
        if (prev && prev.size === st.size && prev.mtimeMs === st.mtimeMs && existsSync(out)) {
          code = readFileSync(out, 'utf8');
          next[rel] = prev;
        } else {
          const source = readFileSync(src, 'utf8');
          const hash = createHash('sha256').update(source).digest('hex');
          if (prev?.hash === hash && existsSync(out)) code = readFileSync(out, 'utf8');
          else {
            esbuild ??= await import('esbuild');
            const r = await esbuild.transform(source, { ...MIRROR_OPTIONS, sourcefile: src }).catch((err) => ({
              // A file that does not compile fails the tests that import it, not the whole run.
              code: `throw new SyntaxError(${JSON.stringify(`${src}: ${err.message}`)});\n`,
              map: '',
            }));
            realDir(dirname(compiledName(rel)));
            if (r.map) writeAtomic(`${out}.map`, r.map);
            code = r.map ? `${r.code}//# sourceMappingURL=${basename(out)}.map\n` : r.code;
            writeAtomic(out, code);
            count++;
          }
          next[rel] = { size: st.size, mtimeMs: st.mtimeMs, hash };
        }
        return { rel, code };
      }),
    );
    // A relative import of a .ts file outside the project (a new folder): compile it too.
    for (const { rel, code } of outputs) {
      for (const m of code.matchAll(RELATIVE_IMPORT)) {
        const target = posix(join(dirname(rel), m[1])).replace(/\.(m?)js$/, '.$1ts');
        const outside = target.startsWith('../') || target.split('/').includes('node_modules');
        if (!compiled.has(target) && !outside && existsSync(join(ROOT, target))) todo.push(target);
      }
    }
  }
  link(compiled);
  writeAtomic(MANIFEST, JSON.stringify({ salt, files: next }));
  return { root: MIRROR, compiled: count, files: compiled.size };
}

/**
 * Makes the mirror's folder `rel` a real folder, all the way down: one that an earlier run made a
 * symlink to the repository's must not be written through.
 */
function realDir(rel) {
  let dir = MIRROR;
  for (const seg of rel === '.' || rel === '' ? [] : rel.split('/')) {
    dir = join(dir, seg);
    if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(dir);
  }
  mkdirSync(dir, { recursive: true });
}

function writeAtomic(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Makes `path` a symlink to `target` (relative), replacing whatever is there. */
function symlinkTo(path, target) {
  const want = relative(dirname(path), target);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    // absent
  }
  if (st?.isSymbolicLink() && readlinkSync(path) === want) return;
  if (st) rmSync(path, { recursive: true, force: true });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(want, tmp);
  renameSync(tmp, path);
}

/** Lays out the mirror around the compiled files: symlinks for everything else (module comment). */
function link(compiled) {
  // Folders that hold compiled files are real folders of the mirror; the rest are symlinks.
  const realDirs = new Set(['']);
  for (const rel of compiled) for (let d = dirname(rel); d !== '.'; d = dirname(d)) realDirs.add(d);
  const outputs = new Set([...compiled].map(compiledName));
  const { files: workspaces, names } = workspacePackages();

  const fill = (rel) => {
    const dir = join(MIRROR, rel);
    realDir(rel);
    const want = new Set();
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === 'node_modules') continue;
      want.add(e.name);
      if (realDirs.has(r) && e.isDirectory()) fill(r);
      else if (outputs.has(r) && !compiled.has(r))
        continue; // a real .js beside its .ts: the compiled one wins
      else if (workspaces.has(r)) writeAtomic(join(MIRROR, r), workspaces.get(r));
      else symlinkTo(join(MIRROR, r), join(ROOT, r));
      if (compiled.has(r)) want.add(compiledName(e.name)).add(`${compiledName(e.name)}.map`);
    }
    for (const name of readdirSync(dir)) {
      // (.tmp: another run's write in progress.)
      const keep = name.endsWith('.tmp') || (rel === '' && (name === 'node_modules' || name.startsWith('.mirror')));
      if (!want.has(name) && !keep) {
        rmSync(join(dir, name), { recursive: true, force: true });
      }
    }
  };
  fill('');
  linkNodeModules(names);
}

/**
 * npm workspaces: their package.json files as the mirror has them (`.ts` export targets renamed
 * `.js`), by repository path (`files`), and their folders by package name (`names`).
 */
function workspacePackages() {
  const files = new Map();
  const names = new Map();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const rename = (v) =>
    typeof v === 'string'
      ? /\.m?ts$/.test(v) && !/\.d\.m?ts$/.test(v)
        ? compiledName(v)
        : v
      : Array.isArray(v)
        ? v.map(rename)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rename(x)]))
          : v;
  for (const ws of Array.isArray(pkg.workspaces) ? pkg.workspaces : []) {
    const file = posix(join(ws, 'package.json'));
    let wpkg;
    try {
      wpkg = JSON.parse(readFileSync(join(ROOT, file), 'utf8'));
    } catch {
      continue;
    }
    files.set(file, JSON.stringify({ ...wpkg, exports: rename(wpkg.exports), main: rename(wpkg.main) }, null, 2));
    if (typeof wpkg.name === 'string') names.set(wpkg.name, posix(ws).replace(/^\.\/|\/$/g, ''));
  }
  return { files, names };
}

/** node_modules/: a symlink per installed package; the workspaces' point into the mirror. */
function linkNodeModules(names) {
  const fill = (rel) => {
    const dir = join(MIRROR, rel);
    realDir(rel);
    const want = new Set();
    for (const name of readdirSync(join(ROOT, rel))) {
      const r = `${rel}/${name}`;
      if (r === 'node_modules/.cache') continue;
      want.add(name);
      const pkgName = r.slice('node_modules/'.length);
      if (names.has(pkgName)) symlinkTo(join(MIRROR, r), join(MIRROR, names.get(pkgName)));
      else if (name.startsWith('@') && [...names.keys()].some((n) => n.startsWith(pkgName + '/'))) fill(r);
      else symlinkTo(join(MIRROR, r), join(ROOT, r));
    }
    for (const name of readdirSync(dir)) if (!want.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
  };
  fill('node_modules');
}
