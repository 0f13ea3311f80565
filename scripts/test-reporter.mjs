// The reporter scripts/test.mjs gives node --test: Node's own `spec` (on a terminal) or `tap`
// (KEYWARD_TEST_REPORTER), with the test mirror's locations in what it prints turned back into the
// TypeScript sources' (`node_modules/.cache/keyward-test/engine/x.js:28:1` → `engine/x.ts:53:1`).
//
// The test processes run without --enable-source-maps: with it Node decodes the source map of
// every module a process loads, as it loads it (about 60 ms of CPU in each of the hundred-odd
// processes of a run, an eighth of importing the server). The maps are read here instead, only for
// the locations that reach the report: failures' stacks and what a test process wrote to stdout or
// stderr (an uncaught error). A location that cannot be mapped is left as it was.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { Readable } from 'node:stream';
import { spec, tap } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { MIRROR, ROOT } from './test-mirror.mjs';

const GROUPS = join(MIRROR, '.mirror-groups');
/** The map file beside a mirror file (scripts/test-mirror.mjs). */
const MAP_URL = /\/\/# sourceMappingURL=([\w.-]+\.map)\s*$/;
const maps = new Map();

/** The source map of a mirror file, or null (no file, no map, a bad one). */
function mapOf(file) {
  if (!maps.has(file)) {
    let map = null;
    try {
      const m = MAP_URL.exec(readFileSync(file, 'utf8'));
      if (m) map = new SourceMap(JSON.parse(readFileSync(join(dirname(file), m[1]), 'utf8')));
    } catch {
      // left unmapped
    }
    maps.set(file, map);
  }
  return maps.get(file);
}

const escaped = MIRROR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `[file://]<mirror>/path.js:line:column`. */
const LOCATION = new RegExp(`(?:file://)?(${escaped}/[^\\s():'"]+?\\.m?js):(\\d+):(\\d+)`, 'g');

/** Every mirror location in `text` as the source's. */
export function sourceLocations(text) {
  if (typeof text !== 'string' || !text.includes(MIRROR)) return text;
  return text.replace(LOCATION, (whole, file, line, column) => {
    const entry = mapOf(file)?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || entry.originalSource === undefined || entry.originalLine === undefined) return whole;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : entry.originalSource;
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

/** An error as reported (node:test wraps a test's own error as its `cause`), its stacks mapped. */
function mapError(err, depth = 0) {
  if (err === null || typeof err !== 'object' || depth > 4) return;
  for (const field of ['stack', 'message']) {
    try {
      if (typeof err[field] === 'string') err[field] = sourceLocations(err[field]);
    } catch {
      // a read-only field: left as it was
    }
  }
  mapError(err.cause, depth + 1);
}

/**
 * `err` with the messages of its causes appended to its own: the TAP report shows a failed test's
 * error by its message only, and a wrapper's (drizzle's "Failed query: …") hides why it failed.
 */
export function withCauses(err) {
  if (err === null || typeof err !== 'object' || typeof err.message !== 'string') return err;
  let message = err.message;
  let cause = err.cause;
  for (let depth = 0; cause !== null && typeof cause === 'object' && depth < 4; depth++, cause = cause.cause) {
    const code = typeof cause.code === 'string' ? ` (${cause.code})` : '';
    if (typeof cause.message === 'string' && cause.message !== '' && !message.includes(cause.message))
      message += `\ncaused by: ${cause.message}${code}`;
  }
  try {
    err.message = message;
  } catch {
    // a read-only field: left as it was
  }
  return err;
}

async function* mapped(source) {
  for await (const event of source) {
    const data = event.data;
    if (data?.details?.error) {
      mapError(data.details.error);
      // node:test wraps a test's own error (ERR_TEST_FAILURE, its cause), which the report shows.
      const own = data.details.error.code === 'ERR_TEST_FAILURE' ? data.details.error.cause : data.details.error;
      withCauses(own);
    }
    // A test file run in a group (scripts/test.mjs): the suite named by its path is at its first line.
    if (typeof data?.file === 'string' && data.file.startsWith(GROUPS) && /\.test\.ts$/.test(data.name ?? ''))
      Object.assign(data, { file: join(ROOT, data.name), line: 1, column: 1 });
    // A test's own location (its `it(...)` line).
    if (typeof data?.file === 'string' && data.file.startsWith(MIRROR) && data.line !== undefined) {
      const [file, line, column] = sourceLocations(`${data.file}:${data.line}:${data.column ?? 1}`).split(
        /:(\d+):(\d+)$/,
      );
      if (file !== data.file) Object.assign(data, { file, line: Number(line), column: Number(column) });
    }
    if ((event.type === 'test:stderr' || event.type === 'test:stdout') && typeof data?.message === 'string')
      data.message = sourceLocations(data.message);
    yield event;
  }
}

export default async function* reporter(source) {
  if (process.env.KEYWARD_TEST_REPORTER === 'spec') yield* Readable.from(mapped(source)).pipe(new spec());
  else yield* tap(mapped(source));
}
