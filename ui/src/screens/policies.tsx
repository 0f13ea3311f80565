/**
 * Policies: the stored policies and where each is active (GET /v1/policies), the active global set
 * by hash, pushing a built `.wasm` (POST /v1/policies; its SHA-256 is computed here first and
 * compared with the server's), activating one (usually parked for two operators' approval by the
 * default policy), and a dry run of an input against a policy or the active set (POST /v1/policies/evaluate).
 * @module
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { sha256 } from '@noble/hashes/sha2.js';
import { isParked, toBase64 } from '@keyward/client';
import { toHex } from '../../../lib/bytes.js';
import { Link, Message, Mono, shortHash, useAction, useLoad } from '../components.js';
import { client } from '../session.js';

const SAMPLE_INPUT = JSON.stringify({ operation: 'encrypt', principal: 'svc-orders', roles: ['app'] }, null, 2);

function PushPolicy(props: { onPushed: () => void }) {
  const [file, setFile] = useState<{ name: string; bytes: Uint8Array; hash: string } | null>(null);
  const [name, setName] = useState('');
  const action = useAction();
  const pick = async (e: JSX.TargetedEvent<HTMLInputElement>) => {
    const f = e.currentTarget.files?.[0];
    if (!f) return setFile(null);
    const bytes = new Uint8Array(await f.arrayBuffer());
    setFile({ name: f.name, bytes, hash: toHex(sha256(bytes)) });
    if (!name) setName(f.name.replace(/\.wasm$/, '').replace(/[^A-Za-z0-9._-]/g, '-'));
  };
  const submit = (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!file) return;
    void action.run(async () => {
      const r = await client().post('/v1/policies', { body: { name, wasm: toBase64(file.bytes) } });
      if (isParked(r)) return `Push was parked for approval ${r.parked.approvalId}`;
      props.onPushed();
      if (r.sha256 !== file.hash)
        throw new Error(`the server stored ${r.sha256}, but the file's SHA-256 is ${file.hash}`);
      return `${r.created ? 'Stored' : 'Already stored'}: ${r.name} ${r.sha256} (${r.size} bytes)`;
    });
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="push-h">
      <h2 id="push-h">Push a built policy</h2>
      <div class="row">
        <label>
          Policy file (.wasm)
          <input type="file" name="wasm" accept=".wasm,application/wasm" required onChange={(e) => void pick(e)} />
        </label>
        <label>
          Name
          <input name="policy-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={action.busy || !file}>
          Push policy
        </button>
      </div>
      {file ? (
        <p>
          SHA-256 of {file.name} ({file.bytes.length} bytes), computed here: <Mono>{file.hash}</Mono>
        </p>
      ) : null}
      <Message error={action.error} notice={action.notice} />
    </form>
  );
}

function Evaluate(props: { hashes: string[] }) {
  const [input, setInput] = useState(SAMPLE_INPUT);
  const [hash, setHash] = useState('');
  const [result, setResult] = useState<unknown>(null);
  const action = useAction();
  const submit = (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    void action.run(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(input);
      } catch (err) {
        throw new Error(`input: expected JSON (${(err as Error).message})`);
      }
      const r = await client().post('/v1/policies/evaluate', {
        body: { input: parsed, ...(hash ? { hash } : {}) },
      });
      setResult(r);
    });
  };
  const decision = result && typeof result === 'object' && 'decision' in result ? String(result.decision) : null;
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="eval-h">
      <h2 id="eval-h">Dry-run an input</h2>
      <label for="eval-input">Policy input (JSON)</label>
      <textarea id="eval-input" rows={6} value={input} onInput={(e) => setInput(e.currentTarget.value)} />
      <div class="row">
        <label>
          Policy
          <select value={hash} onChange={(e) => setHash(e.currentTarget.value)}>
            <option value="">the active set</option>
            {props.hashes.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={action.busy}>
          Evaluate
        </button>
      </div>
      <Message error={action.error} />
      {decision ? (
        <div role="status">
          <p>
            Decision: <strong data-testid="eval-decision">{decision}</strong>
          </p>
          <pre class="mono">{JSON.stringify(result, null, 2)}</pre>
        </div>
      ) : null}
    </form>
  );
}

export function PoliciesScreen() {
  const list = useLoad(() => client().get('/v1/policies'), []);
  const activate = useAction();
  const [target, setTarget] = useState('');
  const policies = list.data && !isParked(list.data) ? list.data.policies : [];
  const active = policies.filter((p) => p.bindings.some((b) => b.scope === 'global'));
  const doActivate = (sha: string) =>
    activate.run(async () => {
      const key = target.trim();
      const r = await client().post('/v1/policies/{hash}/activate', {
        params: { path: { hash: sha } },
        body: key ? { scope: 'key', key } : { scope: 'global' },
      });
      list.reload();
      if (isParked(r))
        return `Activation parked for approval ${r.parked.approvalId}: needs ${r.parked.required} approvals from ${r.parked.group}; execute it from Approvals once approved`;
      return `Activated ${shortHash(r.sha256)} (${r.scope}${r.key ? ` on ${r.key}` : ''})`;
    });
  return (
    <section aria-labelledby="policies-h">
      <h1 id="policies-h">Policies</h1>
      <Message error={list.error} />
      <h2>Active global set</h2>
      <ul data-testid="active-set">
        {active.map((p) => (
          <li key={p.sha256}>
            {p.name}: <Mono>{p.sha256}</Mono>
          </li>
        ))}
        {active.length === 0 && !list.loading ? <li>none (every request is denied)</li> : null}
      </ul>
      <PushPolicy onPushed={list.reload} />
      <h2>Stored policies</h2>
      <div class="toolbar">
        <label>
          Activate on key (empty: globally)
          <input name="activate-key" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
        </label>
      </div>
      <Message error={activate.error} notice={activate.notice} />
      <table>
        <caption class="visually-hidden">Stored policies</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">SHA-256</th>
            <th scope="col">Size</th>
            <th scope="col">Active</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {policies.map((p) => (
            <tr key={p.sha256} data-testid={`policy-${p.name}`}>
              <td>{p.name}</td>
              <td>
                <Mono>{p.sha256}</Mono>
              </td>
              <td>{p.size}</td>
              <td>
                {p.bindings.length === 0
                  ? '—'
                  : p.bindings.map((b) => (b.scope === 'global' ? 'global' : `key ${b.key}`)).join(', ')}
              </td>
              <td>
                <button type="button" disabled={activate.busy} onClick={() => void doActivate(p.sha256)}>
                  Activate<span class="visually-hidden"> {p.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Evaluate hashes={policies.map((p) => p.sha256)} />
      <p class="hint">
        Parked requests wait in <Link to="/approvals">Approvals</Link>.
      </p>
    </section>
  );
}
