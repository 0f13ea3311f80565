/**
 * Approvals (docs/approvals.md): an inbox of pending requests waiting for a role I hold and that I
 * neither asked for nor approved yet (approve, or deny with a reason), and my own requests, which I
 * execute once they have their approvals (GET /v1/approvals, POST /v1/approvals/{id}/{approve,deny,execute}).
 * The server enforces who may approve and execute; the console only sorts the list.
 * @module
 */
import { useState } from 'preact/hooks';
import type { components } from '@keyward/client';
import { isParked } from '@keyward/client';
import { Message, Mono, useAction, useLoad } from '../components.js';
import { client } from '../session.js';
import type { Whoami } from '../session.js';

type Approval = components['schemas']['Approval'];

function Row(props: { a: Approval; children?: preact.ComponentChildren }) {
  const { a } = props;
  return (
    <tr data-testid={`approval-${a.id}`}>
      <td>
        <Mono>{a.id}</Mono>
      </td>
      <td>
        {a.operation}
        {a.key ? ` on ${a.key}` : ''}
        <br />
        <small>
          {a.method} {a.path}
        </small>
      </td>
      <td>{a.requester}</td>
      <td>
        <span data-testid="approval-count">
          {a.approvals} of {a.required}
        </span>{' '}
        from {a.group}
        {a.approvedBy.length ? <small> ({a.approvedBy.join(', ')})</small> : null}
      </td>
      <td>{a.state}</td>
      <td>{a.expiresAt}</td>
      <td>
        <div class="actions">{props.children}</div>
      </td>
    </tr>
  );
}

function Head() {
  return (
    <thead>
      <tr>
        <th scope="col">Approval</th>
        <th scope="col">Request</th>
        <th scope="col">Requester</th>
        <th scope="col">Approvals</th>
        <th scope="col">State</th>
        <th scope="col">Expires</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
  );
}

export function ApprovalsScreen(props: { me: Whoami | null }) {
  const [showAll, setShowAll] = useState(false);
  const list = useLoad(
    () =>
      client().get('/v1/approvals', { params: { query: showAll ? { limit: 100 } : { state: 'pending', limit: 100 } } }),
    [showAll],
  );
  const act = useAction();
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [result, setResult] = useState<unknown>(null);
  const me = props.me;
  const all = list.data && !isParked(list.data) ? list.data.approvals : [];
  const inbox = me
    ? all.filter(
        (a) =>
          a.state === 'pending' &&
          me.roles.includes(a.group) &&
          a.requester !== me.principal &&
          !a.approvedBy.includes(me.principal),
      )
    : [];
  const mine = me ? all.filter((a) => a.requester === me.principal) : [];

  const approve = (id: string) =>
    act.run(async () => {
      const r = await client().post('/v1/approvals/{id}/approve', { params: { path: { id } }, body: {} });
      list.reload();
      if (isParked(r)) return 'parked';
      return `Approved ${id}: ${r.approvals} of ${r.required}`;
    });
  const deny = (id: string) =>
    act.run(async () => {
      const reason = reasons[id]?.trim();
      await client().post('/v1/approvals/{id}/deny', {
        params: { path: { id } },
        body: reason ? { reason } : {},
      });
      list.reload();
      return `Denied ${id}`;
    });
  const execute = (id: string) =>
    act.run(async () => {
      const r = await client().executeApproval(id);
      setResult(r);
      list.reload();
      return `Executed ${id}`;
    });

  return (
    <section aria-labelledby="approvals-h">
      <h1 id="approvals-h">Approvals</h1>
      <p>
        Signed in as <strong>{me?.principal ?? '…'}</strong>, roles {me?.roles.join(', ') ?? '…'}.{' '}
        <button type="button" onClick={list.reload}>
          Refresh
        </button>{' '}
        <label class="check">
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.currentTarget.checked)} /> Show
          finished approvals too
        </label>
      </p>
      <Message error={list.error ?? act.error} notice={act.notice} />
      <h2 id="inbox-h">Waiting for me</h2>
      <table aria-labelledby="inbox-h" data-testid="inbox">
        <Head />
        <tbody>
          {inbox.map((a) => (
            <Row key={a.id} a={a}>
              <button type="button" disabled={act.busy} onClick={() => void approve(a.id)}>
                Approve<span class="visually-hidden"> {a.id}</span>
              </button>
              <label>
                <span class="visually-hidden">Reason to deny {a.id}</span>
                <input
                  placeholder="reason"
                  value={reasons[a.id] ?? ''}
                  onInput={(e) => setReasons({ ...reasons, [a.id]: e.currentTarget.value })}
                />
              </label>
              <button type="button" disabled={act.busy} onClick={() => void deny(a.id)}>
                Deny<span class="visually-hidden"> {a.id}</span>
              </button>
            </Row>
          ))}
        </tbody>
      </table>
      {inbox.length === 0 && !list.loading ? <p>Nothing waits for your approval.</p> : null}
      <h2 id="mine-h">My requests</h2>
      <table aria-labelledby="mine-h" data-testid="mine">
        <Head />
        <tbody>
          {mine.map((a) => (
            <Row key={a.id} a={a}>
              {a.state === 'pending' ? (
                <button
                  type="button"
                  disabled={act.busy || a.approvals < a.required}
                  onClick={() => void execute(a.id)}
                >
                  Execute<span class="visually-hidden"> {a.id}</span>
                </button>
              ) : null}
            </Row>
          ))}
        </tbody>
      </table>
      {mine.length === 0 && !list.loading ? <p>You have no parked requests.</p> : null}
      {result ? (
        <div role="status">
          <h2>Result</h2>
          <pre class="mono" data-testid="execute-result">
            {JSON.stringify(result, null, 2)}
          </pre>
        </div>
      ) : null}
    </section>
  );
}
