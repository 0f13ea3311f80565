/**
 * Audit: the log's records a page at a time with a filter on the page shown (GET
 * /v1/audit/records), the newest signed checkpoint (GET /v1/audit/checkpoint), an inclusion proof of
 * a chosen record verified in this browser against keys the operator pinned (../proof.ts), and an
 * attestation bundle download (POST /v1/audit/export; docs/audit-bundle.md).
 * @module
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { isParked } from '@keyward/client';
import { Message, Mono, useAction, useLoad } from '../components.js';
import { proveInclusion } from '../proof.js';
import type { ProofResult } from '../proof.js';
import { client } from '../session.js';

const TRUSTED_KEYS = 'keyward.audit.trustedKeys';

interface Row {
  index: number;
  leaf: string;
  record: Record<string, unknown> | null;
}

function parseLeaf(leaf: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(leaf);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const text = (v: unknown) => (v === null || v === undefined ? '' : String(v));

function TrustedKeys(props: { value: string; onChange: (v: string) => void }) {
  const action = useAction();
  const fromServer = () =>
    action.run(async () => {
      const k = await client().get('/v1/audit/keys');
      if (isParked(k)) return 'parked';
      props.onChange(k.keys.join('\n'));
      return 'Pinned the keys this server names (trust on first use: compare them with the ones your auditors keep)';
    });
  return (
    <div class="panel">
      <h2 id="trusted-h">Trusted checkpoint keys</h2>
      <label for="trusted-keys" class="block">
        Verifier keys, one per line (as for <code>keyward audit verify --trusted-key</code>)
      </label>
      <textarea
        id="trusted-keys"
        rows={3}
        value={props.value}
        onInput={(e) => props.onChange(e.currentTarget.value)}
        placeholder="keyward-audit+1a2b3c4d+AQ…"
      />
      <button type="button" onClick={() => void fromServer()} disabled={action.busy}>
        Pin the server's keys
      </button>
      <Message error={action.error} notice={action.notice} />
    </div>
  );
}

function Download() {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [inputs, setInputs] = useState(false);
  const action = useAction();
  const submit = (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    void action.run(async () => {
      const bundle = await client().exportAudit({
        ...(from !== '' ? { from: Number(from) } : {}),
        ...(to !== '' ? { to: Number(to) } : {}),
        includeInputs: inputs,
      });
      const blob = new Blob([JSON.stringify(bundle, null, 2) + '\n'], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `keyward-audit-${bundle.range.from}-${bundle.range.to}.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return `Downloaded ${a.download}: ${bundle.records.length} records, checkpoint of size ${bundle.treeSize}. Verify it offline with keyward audit verify-bundle.`;
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="bundle-h">
      <h2 id="bundle-h">Attestation bundle</h2>
      <div class="row">
        <label>
          From record
          <input inputMode="numeric" pattern="[0-9]*" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To (exclusive)
          <input inputMode="numeric" pattern="[0-9]*" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={inputs} onChange={(e) => setInputs(e.currentTarget.checked)} /> Include policy
          inputs (for replay)
        </label>
        <button type="submit" disabled={action.busy}>
          Download bundle
        </button>
      </div>
      <Message error={action.error} notice={action.notice} />
    </form>
  );
}

function ProofView(props: { result: ProofResult }) {
  const r = props.result;
  return (
    <div class="panel proof" role="status" data-testid="proof-result">
      <h2>
        <span class="badge good">Verified in this browser</span> record {r.index}
      </h2>
      <p>
        Record {r.index} ({r.record.operation}
        {r.record.key ? ` on ${r.record.key}` : ''}, {r.record.decision}, status {r.record.status}) is leaf {r.index} of
        the tree of size {r.treeSize} whose root the pinned keys signed.
      </p>
      <dl class="facts">
        <dt>Leaf hash (computed here)</dt>
        <dd>
          <Mono>{r.leafHash}</Mono>
        </dd>
        <dt>Checkpoint</dt>
        <dd>
          {r.origin}, size {r.treeSize}, root <Mono>{r.root}</Mono>
        </dd>
        <dt>Signed by</dt>
        <dd>{r.signedBy.join(', ')}</dd>
        <dt>Proof</dt>
        <dd>{r.proofLength} hashes (RFC 9162 §2.1.3.2)</dd>
        <dt>Server's leaf hash</dt>
        <dd>{r.serverLeafHashAgrees ? 'agrees' : 'differs (ignored: the one computed here was proved)'}</dd>
      </dl>
    </div>
  );
}

export function AuditScreen() {
  const [pageSize, setPageSize] = useState(25);
  const [from, setFrom] = useState<number | 'newest'>('newest');
  const [filter, setFilter] = useState('');
  const [trusted, setTrustedState] = useState(() => sessionStorage.getItem(TRUSTED_KEYS) ?? '');
  const [proof, setProof] = useState<ProofResult | null>(null);
  const setTrusted = (v: string) => {
    setTrustedState(v);
    sessionStorage.setItem(TRUSTED_KEYS, v);
  };
  const page = useLoad(async () => {
    const kw = client();
    let start = from;
    if (start === 'newest') {
      const head = await kw.get('/v1/audit/records', { params: { query: { from: 0, limit: 1 } } });
      if (isParked(head)) throw new Error('parked');
      start = Math.max(0, head.size - pageSize);
    }
    const r = await kw.get('/v1/audit/records', { params: { query: { from: start, limit: pageSize } } });
    if (isParked(r)) throw new Error('parked');
    return { ...r, from: start };
  }, [from, pageSize]);
  const checkpoint = useLoad(() => client().get('/v1/audit/checkpoint'), [page.data]);
  const prove = useAction();
  const cp = checkpoint.data && !isParked(checkpoint.data) ? checkpoint.data : undefined;

  const rows: Row[] = (page.data?.records ?? []).map((r) => ({ ...r, record: parseLeaf(r.leaf) }));
  const needle = filter.trim().toLowerCase();
  const shown = rows
    .filter((r) => needle === '' || r.leaf.toLowerCase().includes(needle))
    .sort((a, b) => b.index - a.index);
  const size = page.data?.size ?? 0;
  const start = page.data?.from ?? 0;

  const doProve = (row: Row) =>
    prove.run(async () => {
      setProof(null);
      const kw = client();
      const fresh = await kw.get('/v1/audit/checkpoint');
      if (isParked(fresh)) throw new Error('parked');
      if (trusted.trim() === '')
        throw new Error(
          'pin the checkpoint keys first (Trusted checkpoint keys, above): a proof needs a trusted signer',
        );
      const result = await proveInclusion({
        index: row.index,
        leaf: row.leaf,
        note: fresh.note,
        trustedKeys: trusted,
        fetchProof: async (index, treeSize) => {
          const p = await kw.get('/v1/audit/proofs/inclusion', { params: { query: { index, size: treeSize } } });
          if (isParked(p)) throw new Error('parked');
          return p;
        },
      });
      setProof(result);
    });

  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">Audit log</h1>
      <Message error={page.error} />
      <div class="panel">
        <h2>Newest checkpoint</h2>
        <Message error={checkpoint.error} />
        {cp ? (
          <p data-testid="checkpoint">
            Size {cp.size}, root <Mono>{cp.root}</Mono>
          </p>
        ) : null}
        {cp ? (
          <details>
            <summary>Signed note (C2SP checkpoint with its signature lines)</summary>
            <pre class="mono note">{cp.note}</pre>
          </details>
        ) : null}
      </div>
      <TrustedKeys value={trusted} onChange={setTrusted} />
      <Message error={prove.error} />
      {proof ? <ProofView result={proof} /> : null}
      <h2 id="records-h">Records</h2>
      <div class="toolbar">
        <label>
          Filter
          <input
            type="search"
            name="filter"
            placeholder="operation, key, principal, decision…"
            value={filter}
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </label>
        <label>
          Per page
          <select value={String(pageSize)} onChange={(e) => setPageSize(Number(e.currentTarget.value))}>
            {[25, 50, 100, 250].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => (from === 'newest' ? page.reload() : setFrom('newest'))}>
          Newest
        </button>
      </div>
      <p>
        Records {start} to {start + rows.length - 1} of {size}
        {needle ? `; ${shown.length} match the filter on this page` : ''}.
      </p>
      <table aria-labelledby="records-h" data-testid="records">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Operation</th>
            <th scope="col">Key</th>
            <th scope="col">Principal</th>
            <th scope="col">Decision</th>
            <th scope="col">Status</th>
            <th scope="col">Proof</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.index} data-testid={`record-${r.index}`}>
              <td>{r.index}</td>
              <td>{text(r.record?.time)}</td>
              <td>{text(r.record?.operation)}</td>
              <td>
                {text(r.record?.key)}
                {r.record?.keyVersion ? ` v${text(r.record.keyVersion)}` : ''}
              </td>
              <td class="principal">{text(r.record?.principal)}</td>
              <td>{text(r.record?.decision)}</td>
              <td>
                {text(r.record?.status)}
                {r.record?.code ? ` ${text(r.record.code)}` : ''}
              </td>
              <td>
                <button type="button" disabled={prove.busy} onClick={() => void doProve(r)}>
                  Verify inclusion<span class="visually-hidden"> of record {r.index}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager" aria-label="Record pages">
        <button type="button" disabled={start === 0} onClick={() => setFrom(Math.max(0, start - pageSize))}>
          Older
        </button>
        <button
          type="button"
          disabled={start + rows.length >= size}
          onClick={() => setFrom(Math.min(start + pageSize, Math.max(0, size - pageSize)))}
        >
          Newer
        </button>
      </nav>
      <Download />
    </section>
  );
}
