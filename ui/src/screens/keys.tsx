/**
 * Keys: the list (GET /v1/keys, a page at a time by cursor, filtered by name on the page shown),
 * create (POST /v1/keys), rotate (POST /v1/keys/{name}/rotate), and a key's detail with its versions
 * and public keys (GET /v1/keys/{name}).
 * @module
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { components } from '@keyward/client';
import { isParked } from '@keyward/client';
import { Link, Message, Mono, navigate, useAction, useLoad } from '../components.js';
import { client } from '../session.js';

type KeyType = components['schemas']['KeyType'];

/**
 * The key types to offer, in the server's order. The client has them only as a type, so the list is
 * written here as a Record over that type: a type the server adds or drops fails `npm run typecheck`.
 */
const KEY_TYPES = Object.keys({
  'aes256-gcm': true,
  'chacha20-poly1305': true,
  'hmac-sha256': true,
  ed25519: true,
  'ecdsa-p256': true,
  'ecdsa-p384': true,
  'rsa-3072': true,
  'rsa-4096': true,
  'ml-dsa-44': true,
  'ml-dsa-65': true,
  'ml-dsa-87': true,
  'slh-dsa-sha2-128s': true,
  'slh-dsa-sha2-128f': true,
  'slh-dsa-sha2-256s': true,
  'ml-kem-512': true,
  'ml-kem-768': true,
  'ml-kem-1024': true,
  'x-wing': true,
  'ml-dsa-65-ed25519': true,
} satisfies Record<KeyType, true>) as KeyType[];

/** "team=payments, env=prod" → {team: 'payments', env: 'prod'}; throws naming the bad entry. */
function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`labels: expected key=value, got "${item}"`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

function CreateKey(props: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [type, setType] = useState<KeyType>('aes256-gcm');
  const [labels, setLabels] = useState('');
  const [exportable, setExportable] = useState(false);
  const action = useAction();
  const submit = (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    void action.run(async () => {
      const r = await client().createKey(name.trim(), type, { labels: parseLabels(labels), exportable });
      if (isParked(r)) return `Key creation was parked for approval ${r.parked.approvalId}`;
      props.onCreated();
      setName('');
      return `Created key ${r.name} (${r.type}, version ${r.latestVersion})`;
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="create-key-h">
      <h2 id="create-key-h">Create a key</h2>
      <div class="row">
        <label>
          Name
          <input
            name="name"
            required
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label>
          Type
          <select name="type" value={type} onChange={(e) => setType(e.currentTarget.value as KeyType)}>
            {KEY_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Labels
          <input
            name="labels"
            placeholder="team=payments, env=prod"
            value={labels}
            onInput={(e) => setLabels(e.currentTarget.value)}
          />
        </label>
        <label class="check">
          <input type="checkbox" checked={exportable} onChange={(e) => setExportable(e.currentTarget.checked)} />
          Exportable
        </label>
        <button type="submit" disabled={action.busy}>
          Create key
        </button>
      </div>
      <Message error={action.error} notice={action.notice} />
    </form>
  );
}

export function KeysScreen() {
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [pageSize, setPageSize] = useState(20);
  const [search, setSearch] = useState('');
  const after = cursors[cursors.length - 1];
  const page = useLoad(
    () =>
      client().get('/v1/keys', {
        params: { query: { limit: pageSize, ...(after !== undefined ? { after } : {}) } },
      }),
    [after, pageSize],
  );
  const rotate = useAction();
  const list = page.data && !isParked(page.data) ? page.data : undefined;
  const needle = search.trim().toLowerCase();
  const shown = list?.keys.filter(
    (k) =>
      needle === '' ||
      k.name.toLowerCase().includes(needle) ||
      Object.entries(k.labels).some(([l, v]) => `${l}=${v}`.toLowerCase().includes(needle)),
  );
  const doRotate = (name: string) =>
    rotate.run(async () => {
      const r = await client().post('/v1/keys/{name}/rotate', { params: { path: { name } }, body: {} });
      page.reload();
      if (isParked(r)) return `Rotation of ${name} was parked for approval ${r.parked.approvalId}`;
      return `Rotated ${name}: version ${r.latestVersion}`;
    });
  return (
    <section aria-labelledby="keys-h">
      <h1 id="keys-h">Keys</h1>
      <CreateKey onCreated={page.reload} />
      <div class="toolbar">
        <label>
          Search
          <input
            type="search"
            name="search"
            placeholder="name or label"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
        </label>
        <label>
          Per page
          <select
            value={String(pageSize)}
            onChange={(e) => {
              setPageSize(Number(e.currentTarget.value));
              setCursors([undefined]);
            }}
          >
            {[10, 20, 50, 100].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Message error={page.error ?? rotate.error} notice={rotate.notice} />
      <table>
        <caption class="visually-hidden">Keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Latest version</th>
            <th scope="col">Labels</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {shown?.map((k) => (
            <tr key={k.name} data-testid={`key-${k.name}`}>
              <td>
                <Link to={`/keys/${encodeURIComponent(k.name)}`}>{k.name}</Link>
                {k.deleteAfter ? <span class="badge bad">deletion scheduled</span> : null}
              </td>
              <td>{k.type}</td>
              <td>{k.latestVersion}</td>
              <td>
                {Object.entries(k.labels)
                  .map(([l, v]) => `${l}=${v}`)
                  .join(', ')}
              </td>
              <td>
                <button type="button" onClick={() => void doRotate(k.name)} disabled={rotate.busy}>
                  Rotate<span class="visually-hidden"> {k.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown && shown.length === 0 ? <p>No keys{needle ? ' match the search on this page' : ''}.</p> : null}
      <nav class="pager" aria-label="Key pages">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!list?.next} onClick={() => list?.next && setCursors([...cursors, list.next])}>
          Next page
        </button>
      </nav>
    </section>
  );
}

export function KeyDetailScreen(props: { name: string }) {
  const key = useLoad(() => client().get('/v1/keys/{name}', { params: { path: { name: props.name } } }), [props.name]);
  const rotate = useAction();
  const k = key.data && !isParked(key.data) ? key.data : undefined;
  return (
    <section aria-labelledby="key-h">
      <p>
        <Link to="/keys">← All keys</Link>
      </p>
      <h1 id="key-h">Key {props.name}</h1>
      <Message error={key.error ?? rotate.error} notice={rotate.notice} />
      {k ? (
        <>
          <dl class="facts">
            <dt>Type</dt>
            <dd>{k.type}</dd>
            <dt>Latest version</dt>
            <dd data-testid="latest-version">{k.latestVersion}</dd>
            <dt>Minimum decryption version</dt>
            <dd>{k.minDecryptionVersion}</dd>
            <dt>Exportable</dt>
            <dd>{k.exportable ? 'yes' : 'no'}</dd>
            <dt>Verify only</dt>
            <dd>{k.verifyOnly ? 'yes' : 'no'}</dd>
            <dt>Labels</dt>
            <dd>
              {Object.entries(k.labels)
                .map(([l, v]) => `${l}=${v}`)
                .join(', ') || '—'}
            </dd>
            <dt>Created</dt>
            <dd>{k.createdAt}</dd>
            <dt>Deletion</dt>
            <dd>{k.deleteAfter ? `scheduled after ${k.deleteAfter}` : 'not scheduled'}</dd>
          </dl>
          <button
            type="button"
            disabled={rotate.busy}
            onClick={() =>
              void rotate.run(async () => {
                const r = await client().post('/v1/keys/{name}/rotate', {
                  params: { path: { name: props.name } },
                  body: {},
                });
                key.reload();
                if (isParked(r)) return `Rotation was parked for approval ${r.parked.approvalId}`;
                return `Rotated: version ${r.latestVersion}`;
              })
            }
          >
            Rotate key
          </button>
          <h2>Versions</h2>
          <table>
            <caption class="visually-hidden">Versions of {props.name}</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Created</th>
                <th scope="col">Public key (base64)</th>
              </tr>
            </thead>
            <tbody>
              {k.versions.map((v) => (
                <tr key={v.version}>
                  <td>{v.version}</td>
                  <td>{v.createdAt}</td>
                  <td>
                    {v.publicKey ? (
                      <pre class="mono" data-testid={`public-key-${v.version}`}>
                        {v.publicKey}
                      </pre>
                    ) : (
                      '— (symmetric)'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : key.loading ? (
        <p>Loading…</p>
      ) : null}
      {!k && !key.loading ? (
        <p>
          <button type="button" onClick={() => navigate('/keys')}>
            Back to keys
          </button>
        </p>
      ) : null}
    </section>
  );
}
