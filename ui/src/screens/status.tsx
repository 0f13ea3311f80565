/**
 * Status: sealed or unsealed, the unseal progress with the holders whose shards are in, the
 * ceremony, version and node (GET /v1/sys/seal-status, unauthenticated; polled every 2 s).
 * @module
 */
import { useEffect } from 'preact/hooks';
import { Message, Mono, useLoad } from '../components.js';
import { client } from '../session.js';

export function StatusScreen() {
  const status = useLoad(() => client().get('/v1/sys/seal-status'), []);
  useEffect(() => {
    const t = setInterval(status.reload, 2000);
    return () => clearInterval(t);
  }, [status.reload]);
  const s = status.data && !('parked' in status.data) ? status.data : undefined;
  return (
    <section aria-labelledby="status-h">
      <h1 id="status-h">Status</h1>
      <Message error={status.error} />
      {s ? (
        <>
          <p class="state">
            <span class={`badge ${s.sealed ? 'bad' : 'good'}`} data-testid="seal-state">
              {!s.initialized ? 'Not initialized' : s.sealed ? 'Sealed' : 'Unsealed'}
            </span>
          </p>
          <dl class="facts">
            <dt>Unseal progress</dt>
            <dd data-testid="unseal-progress">
              {s.sealed ? (
                <>
                  <progress max={s.threshold} value={s.progress} aria-label="Shards submitted" /> {s.progress} of{' '}
                  {s.threshold} shards
                </>
              ) : (
                'complete'
              )}
            </dd>
            <dt>Threshold</dt>
            <dd>
              {s.threshold} of {s.shares} holders
            </dd>
            <dt>Ceremony</dt>
            <dd>
              {s.ceremonyId ? <Mono>{s.ceremonyId}</Mono> : '—'} (generation {s.generation})
            </dd>
            <dt>Version</dt>
            <dd data-testid="version">{s.version}</dd>
            <dt>Node</dt>
            <dd data-testid="node">{s.node}</dd>
          </dl>
          <h2>Holders</h2>
          <table>
            <caption class="visually-hidden">Shard holders and whether each submitted to this unseal session</caption>
            <thead>
              <tr>
                <th scope="col">Index</th>
                <th scope="col">Holder</th>
                <th scope="col">Fingerprint</th>
                <th scope="col">Submitted</th>
              </tr>
            </thead>
            <tbody>
              {s.holders.map((h) => {
                const submitted = s.submitted.includes(h.index);
                return (
                  <tr key={h.index} data-testid={`holder-${h.name}`}>
                    <td>{h.index}</td>
                    <td>{h.name}</td>
                    <td>
                      <Mono>{h.fingerprint}</Mono>
                    </td>
                    <td>{s.sealed ? (submitted ? 'submitted' : 'waiting') : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {s.sealed && s.initialized ? (
            <p class="hint">
              Holders unseal with <code>keyward ceremony unseal --key HOLDER.key --shard SHARD.json</code> on their own
              machines; the console never sees a shard.
            </p>
          ) : null}
        </>
      ) : status.loading ? (
        <p>Loading…</p>
      ) : null}
    </section>
  );
}
