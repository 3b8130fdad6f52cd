/**
 * The operations API as the console calls it: JSON over fetch on the page's origin, the API token
 * (when the server wants one) from sessionStorage as a bearer token, and errors as ApiError.
 */
import { type InstanceStatus, STATUSES } from "../../lib/engine/types.js";
import type { Catalogue, HistoryPage, InstanceSummary } from "../../lib/ports.js";
import type { Graph, InstanceGraph } from "../../lib/runtime/graph.js";
import type { InstancePage, InstanceView, OperatorOutcome } from "../../lib/runtime/operations.js";

export type { Catalogue, HistoryPage, InstanceGraph, InstancePage, InstanceSummary, InstanceView };

export { STATUSES };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: readonly string[],
  ) {
    super(message);
  }
}

const TOKEN_KEY = "docket.apiToken";

/** Listeners told when a call was refused for want of a token, and when a new token is set. */
const authListeners = new Set<() => void>();
let tokenWanted = false;

export function token(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function isTokenWanted(): boolean {
  return tokenWanted;
}

export function setToken(value: string): void {
  sessionStorage.setItem(TOKEN_KEY, value);
  tokenWanted = false;
  for (const listener of authListeners) listener();
}

export function onAuthChange(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export function authHeaders(): Record<string, string> {
  const value = token();
  return value ? { authorization: `Bearer ${value}` } : {};
}

/** Marks the token as wanted (a 401) and tells the app to ask for it. */
export function wantToken(): void {
  if (tokenWanted) return;
  tokenWanted = true;
  for (const listener of authListeners) listener();
}

async function errorOf(response: Response): Promise<ApiError> {
  let body: { error?: { code?: string; message?: string; problems?: string[] } } = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const error = body.error ?? {};
  return new ApiError(
    response.status,
    error.code ?? "HttpError",
    error.message ?? `HTTP ${response.status} ${response.statusText}`,
    error.problems,
  );
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "NetworkError", `cannot reach the API: ${(error as Error).message}`);
  }
  if (response.status === 401) wantToken();
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== "") search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
}

const at = (id: string) => `/instances/${encodeURIComponent(id)}`;

export interface Health {
  readonly ok: boolean;
  readonly host: "embedded" | "aws" | string;
}

export interface Counts {
  readonly counts: Record<InstanceStatus, number>;
  readonly capped: readonly InstanceStatus[];
}

export interface DefinitionVersion {
  readonly name: string;
  readonly hash: string;
  readonly source: string;
  readonly graph: Graph;
}

export type OperatorAction = "pause" | "resume" | "cancel" | "retry" | "skip" | "fail";

export interface OperatorBody {
  readonly node?: string;
  readonly fields?: Record<string, unknown>;
  readonly reason?: string;
}

export const api = {
  health: () => call<Health>("GET", "/health"),
  definitions: () => call<Catalogue>("GET", "/definitions"),
  definition: (name: string, version: string) =>
    call<DefinitionVersion>(
      "GET",
      `/definitions/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`,
    ),
  counts: (process?: string) => call<Counts>("GET", `/counts${query({ process })}`),
  list: (filter: { status?: string; process?: string; limit?: number; after?: string }) =>
    call<InstancePage>("GET", `/instances${query(filter)}`),
  show: (id: string) => call<InstanceView>("GET", at(id)),
  graph: (id: string) => call<InstanceGraph>("GET", `${at(id)}/graph`),
  history: (id: string, after?: number, limit = 100) =>
    call<HistoryPage>("GET", `${at(id)}/history${query({ after, limit })}`),
  launch: (body: { process: string; version?: string; fields?: Record<string, unknown> }) =>
    call<{ id: string }>("POST", "/instances", body),
  operate: (id: string, action: OperatorAction, body: OperatorBody = {}) =>
    call<OperatorOutcome>("POST", `${at(id)}/${action}`, body),
};

/**
 * An operator call, then `refresh`: after it was applied, and after a refusal as stale (409: the
 * instance moved on, so the page showed actions that no longer apply).
 */
export async function operateAndRefresh(
  refresh: () => void,
  id: string,
  action: OperatorAction,
  body?: OperatorBody,
): Promise<OperatorOutcome> {
  try {
    const outcome = await api.operate(id, action, body);
    refresh();
    return outcome;
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) refresh();
    throw error;
  }
}

/** An error as one line for the page: the API's message, with its problems when it lists any. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return "the API wants its token (enter it above)";
  if (error instanceof ApiError)
    return error.problems?.length ? `${error.message}: ${error.problems.join("; ")}` : error.message;
  return error instanceof Error ? error.message : String(error);
}
