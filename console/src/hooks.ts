/** Small hooks the pages share: data loading, the page title, the auth epoch. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { isTokenWanted, onAuthChange } from "./api.js";

/** Counts the tokens set so far: pages load again with a new one. */
export function useAuthEpoch(): number {
  const [epoch, setEpoch] = useState(0);
  useEffect(
    () =>
      onAuthChange(() => {
        if (!isTokenWanted()) setEpoch((n) => n + 1);
      }),
    [],
  );
  return epoch;
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · docket console`;
  }, [title]);
}

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  /** Loads again, keeping what is shown until the answer comes (a live refresh does not flicker). */
  readonly reload: () => void;
}

/**
 * Loads `load()` whenever `deps` change (clearing what was shown) or `reload` is called (keeping
 * it); an answer that arrives after a newer request started is dropped.
 */
export function useResource<T>(load: () => Promise<T>, deps: readonly unknown[]): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const latest = useRef(0);
  const loader = useRef(load);
  loader.current = load;
  const run = useCallback((keep: boolean) => {
    const request = ++latest.current;
    setState((old) => (keep ? { ...old, loading: true } : { loading: true }));
    loader.current().then(
      (data) => {
        if (request === latest.current) setState({ data, loading: false });
      },
      (error: unknown) => {
        if (request === latest.current)
          setState((old) => ({ data: keep ? old.data : undefined, error, loading: false }));
      },
    );
  }, []);
  const epoch = useAuthEpoch();
  // The caller's deps are what the load reads.
  useEffect(() => run(false), [...deps, epoch]);
  const reload = useCallback(() => run(true), [run]);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/**
 * Calls `fn` each time `value` changes after the first render. `undefined` is "not known yet": the
 * first value known after it is taken as the start, not as a change.
 */
export function useChanged(value: string | number | undefined, fn: () => void): void {
  const last = useRef(value);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (last.current === value || value === undefined) return;
    const known = last.current !== undefined;
    last.current = value;
    if (known) latest.current();
  }, [value]);
}

/** Calls `fn` every `ms` while the page is visible (whatever the change stream does). */
export function useInterval(fn: () => void, ms: number): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!document.hidden) latest.current();
    }, ms);
    return () => window.clearInterval(timer);
  }, [ms]);
}
