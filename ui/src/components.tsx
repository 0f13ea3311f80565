/**
 * Small shared pieces of the console: in-app links, an error/notice region, a loading hook, and a
 * copyable monospace value. Plain elements with labels and roles; no component library.
 * @module
 */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { describeError } from './session.js';

export const BASE = '/ui';

/** Navigates within the app (history API), without a page load. */
export function navigate(to: string): void {
  history.pushState(null, '', BASE + to);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The app path (`/keys/orders`) of the current location. */
export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p === '' ? '/' : p;
}

export function Link(props: { to: string; children: ComponentChildren; 'aria-current'?: 'page' | undefined }) {
  const onClick = (e: JSX.TargetedMouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={BASE + props.to} onClick={onClick} aria-current={props['aria-current']}>
      {props.children}
    </a>
  );
}

/** An error (role=alert, read out at once) or a notice (role=status). */
export function Message(props: { error?: unknown; notice?: string | null }) {
  if (props.error) {
    return (
      <p class="message error" role="alert">
        {describeError(props.error)}
      </p>
    );
  }
  if (props.notice) {
    return (
      <p class="message notice" role="status">
        {props.notice}
      </p>
    );
  }
  return null;
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload()), keeping its result, error and loading state. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** A long value (hash, key, signature) in monospace, wrapped. */
export function Mono(props: { children: ComponentChildren; label?: string }) {
  return (
    <code class="mono" aria-label={props.label}>
      {props.children}
    </code>
  );
}

/** An async action's state: busy while it runs, its error or notice after. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const run = useCallback(async (fn: () => Promise<string | void>) => {
    setBusy(true);
    setError(undefined);
    setNotice(null);
    try {
      const n = await fn();
      if (n) setNotice(n);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, notice, run, setNotice };
}

export function shortHash(h: string): string {
  return h.length > 16 ? `${h.slice(0, 12)}…${h.slice(-4)}` : h;
}
