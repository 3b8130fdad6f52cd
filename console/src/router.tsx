/**
 * Client-side routing under /console/ with the History API: the current URL as state, `navigate`
 * to move, and `Link` for in-app anchors (a modified click still opens a new tab as usual).
 */
import type { AnchorHTMLAttributes, ComponentChildren, TargetedMouseEvent } from "preact";
import { useEffect, useState } from "preact/hooks";

export const BASE = "/console";

export interface Location {
  readonly path: string;
  readonly query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** Moves to `url` (a path under /console, with its query); `replace` keeps the history entry. */
export function navigate(url: string, options: { replace?: boolean } = {}): void {
  if (url === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  for (const listener of listeners) listener();
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return location;
}

/** A URL of the console with a query, leaving out empty values. */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) search.set(key, value);
  const text = search.toString();
  return `${BASE}${path}${text ? `?${text}` : ""}`;
}

export const instanceHref = (id: string) => href(`/instances/${encodeURIComponent(id)}`);

type AnchorProps = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

export function Link({ href: target, onClick, ...rest }: AnchorProps) {
  const click = (event: TargetedMouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(target);
  };
  return <a href={target} onClick={click} {...rest} />;
}

export type Route =
  | { readonly page: "instances" }
  | { readonly page: "instance"; readonly id: string }
  | { readonly page: "definitions" }
  | { readonly page: "missing" };

export function match(path: string): Route {
  const rest = path.startsWith(BASE) ? path.slice(BASE.length).replace(/\/+$/, "") : undefined;
  if (rest === undefined) return { page: "missing" };
  if (rest === "" || rest === "/instances") return { page: "instances" };
  if (rest === "/definitions") return { page: "definitions" };
  const instance = /^\/instances\/([^/]+)$/.exec(rest);
  if (instance?.[1]) {
    try {
      return { page: "instance", id: decodeURIComponent(instance[1]) };
    } catch {
      return { page: "missing" };
    }
  }
  return { page: "missing" };
}
