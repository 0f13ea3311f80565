/**
 * `keyward audit verify`'s reader of GET /v1/audit/records (docs/architecture.md, "The audit log"):
 * it asks for the raw page format (engine/audit/verifier/records-page.ts) over node:http (cli/http.ts
 * PlainGet), whose bytes go to the verifier's workers as they came, and takes a JSON page from a
 * server that answers with one (a release before the format, or a proxy that drops the Accept
 * header). Anything but a 200 (an error, a request the policies parked, a transport failure) is
 * asked again through the typed client, whose errors and APPROVAL_PENDING the CLI already words.
 * @module
 */
import type { KeywardClient, components } from '@keyward/client';
import { KeywardError } from '../../../lib/errors.js';
import type { RecordsPageBytes } from '../../../engine/audit/verifier/records-page.js';
import { done } from '../../http.js';
import type { PlainGet } from '../../http.js';

type JsonPage = components['schemas']['AuditRecords'];

/**
 * A page in either format: `count` records from `from`, `end` the index after the last (JSON rows
 * may have gaps: the verifier finds them).
 */
export type RecordsPage =
  | { raw: true; size: number; from: number; count: number; end: number; page: RecordsPageBytes }
  | { raw: false; size: number; from: number; count: number; end: number; rows: JsonPage['records'] };

/** Records per raw page the CLI asks for (the server caps it: 10,000 today, 1,000 for a JSON page). */
export const RAW_PAGE = 10_000;

function fromJson(p: JsonPage): RecordsPage {
  const n = p.records.length;
  return {
    raw: false,
    size: p.size,
    from: p.records[0]?.index ?? 0,
    count: n,
    end: n > 0 ? p.records[n - 1]!.index + 1 : 0,
    rows: p.records,
  };
}

/** GET /v1/audit/records [from, min(to, from + limit)), raw when the server speaks it. */
export async function fetchRecordsPage(
  client: () => KeywardClient,
  plain: PlainGet,
  from: number,
  opts: { limit?: number; to?: number } = {},
): Promise<RecordsPage> {
  // Loaded here, not at the top: every command module is imported at start-up (test/cli/startup.test.ts).
  const { AUDIT_RECORDS_MEDIA_TYPE, RecordsPageError, decodeRecordsPage } =
    await import('../../../engine/audit/verifier/records-page.js');
  const limit = opts.limit ?? RAW_PAGE;
  const query = { from, limit, ...(opts.to !== undefined ? { to: Math.min(opts.to, from + limit) } : {}) };
  const answer = await plain.get('/v1/audit/records', query, `${AUDIT_RECORDS_MEDIA_TYPE}, application/json;q=0.5`, {
    shared: true,
  });
  // Anything but a 200 is worded by the typed client.
  if (!answer) return fromJson(done(await client().get('/v1/audit/records', { params: { query } })));
  const { body, type } = answer;
  if (!type.startsWith(AUDIT_RECORDS_MEDIA_TYPE)) {
    try {
      return fromJson(JSON.parse(body.toString('utf8')) as JsonPage);
    } catch {
      throw new KeywardError(
        'BAD_RESPONSE',
        'GET /v1/audit/records: the server answered 200 with a body that is not JSON',
      );
    }
  }
  try {
    // A page starting after `from` (deleted records) is the verifier's to name.
    const page = decodeRecordsPage(body);
    if (page.count > 0 && page.from < from)
      throw new RecordsPageError(`expected records from ${from}, the page starts at ${page.from}`);
    return { raw: true, size: page.size, from: page.from, count: page.count, end: page.from + page.count, page };
  } catch (err) {
    if (err instanceof RecordsPageError) throw new KeywardError('BAD_RESPONSE', err.message);
    throw err;
  }
}

/** The first `n` records of a page (n ≤ its count). */
export function firstRecords(p: RecordsPage, n: number): RecordsPage {
  if (n >= p.count) return p;
  if (!p.raw) return fromJson({ size: p.size, records: p.rows.slice(0, n), next: null });
  const page = p.page;
  return {
    ...p,
    count: n,
    end: p.from + n,
    page: {
      ...page,
      count: n,
      chains: page.chains.subarray(0, 32 * n),
      leaves: page.leaves.subarray(0, page.offsets[n]),
      offsets: page.offsets.subarray(0, n + 1),
    },
  };
}
