/**
 * The instances page: counts per status (buttons that filter), the list filtered by status and
 * process (kept in the URL), a search by id, and paging with a stack of cursors; refreshed live.
 */
import type { TargetedSubmitEvent } from "preact";
import { useState } from "preact/hooks";
import type { InstanceStatus } from "../../../lib/engine/types.js";
import { ApiError, api, describeError, type InstanceSummary, STATUSES } from "../api.js";
import { ErrorNote, StatusBadge } from "../components/status.js";
import { formatTime, isoTime } from "../format.js";
import { useResource, useTitle } from "../hooks.js";
import { useLiveRefresh } from "../live.js";
import { href, instanceHref, Link, navigate } from "../router.js";

const PAGE_SIZE = 20;

interface Filters {
  readonly status: string;
  readonly process: string;
}

export function InstancesPage({ query }: { query: URLSearchParams }) {
  useTitle("Instances");
  const status = STATUSES.includes(query.get("status") as InstanceStatus) ? (query.get("status") ?? "") : "";
  const filters: Filters = { status, process: query.get("process") ?? "" };
  const setFilters = (next: Filters) => navigate(href("/", { status: next.status, process: next.process }));
  return (
    <>
      <h1 tabindex={-1}>Instances</h1>
      <Counts filters={filters} onFilter={setFilters} />
      <div class="toolbar">
        <FilterForm filters={filters} onFilter={setFilters} />
        <SearchById />
      </div>
      {/* A new filter starts again at the first page. */}
      <InstanceList key={`${filters.status}|${filters.process}`} filters={filters} />
    </>
  );
}

function Counts({ filters, onFilter }: { filters: Filters; onFilter: (next: Filters) => void }) {
  const counts = useResource(() => api.counts(filters.process || undefined), [filters.process]);
  useLiveRefresh(counts.reload);
  const capped = new Set(counts.data?.capped ?? []);
  return (
    <section aria-label="Instances by status" class="counts">
      {STATUSES.map((status) => {
        const count = counts.data?.counts[status];
        // A capped status was counted no further: at least its count.
        const shown =
          count === undefined ? "…" : `${count.toLocaleString("en-US")}${capped.has(status) ? "+" : ""}`;
        const active = filters.status === status;
        return (
          <button
            key={status}
            type="button"
            class={`count status-${status}`}
            aria-pressed={active}
            data-testid={`count-${status}`}
            onClick={() => onFilter({ ...filters, status: active ? "" : status })}
          >
            <span class="count-number">{shown}</span>
            <span class="count-label">{status}</span>
          </button>
        );
      })}
      {counts.error !== undefined && (
        <ErrorNote>Cannot count instances: {describeError(counts.error)}</ErrorNote>
      )}
    </section>
  );
}

function FilterForm({ filters, onFilter }: { filters: Filters; onFilter: (next: Filters) => void }) {
  const definitions = useResource(api.definitions, []);
  const names = (definitions.data?.processes ?? []).map((p) => p.name);
  if (filters.process && !names.includes(filters.process)) names.push(filters.process);
  return (
    <div class="filters">
      <div class="field inline">
        <label for="filter-status">Status</label>
        <select
          id="filter-status"
          value={filters.status}
          data-testid="filter-status"
          onChange={(e) => onFilter({ ...filters, status: e.currentTarget.value })}
        >
          <option value="">all</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field inline">
        <label for="filter-process">Process</label>
        <select
          id="filter-process"
          value={filters.process}
          data-testid="filter-process"
          onChange={(e) => onFilter({ ...filters, process: e.currentTarget.value })}
        >
          <option value="">all</option>
          {names.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}

function SearchById() {
  const [text, setText] = useState("");
  const [message, setMessage] = useState("");
  const submit = async (event: TargetedSubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = text.trim();
    if (!id) return;
    setMessage("");
    try {
      await api.show(id);
      navigate(instanceHref(id));
    } catch (error) {
      setMessage(
        error instanceof ApiError && error.status === 404 ? `no instance ${id}` : describeError(error),
      );
    }
  };
  return (
    <search>
      <form class="search" onSubmit={submit} data-testid="search-form">
        <div class="field inline">
          <label for="search-id">Instance id</label>
          <input
            id="search-id"
            type="search"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            data-testid="search-id"
          />
        </div>
        <button type="submit">Open</button>
        <p class="search-message" role="status" data-testid="search-message">
          {message}
        </p>
      </form>
    </search>
  );
}

function InstanceList({ filters }: { filters: Filters }) {
  // The cursors of the pages before this one; this page starts after the last.
  const [cursors, setCursors] = useState<(string | undefined)[]>([]);
  const after = cursors[cursors.length - 1];
  const page = useResource(
    () => api.list({ status: filters.status, process: filters.process, limit: PAGE_SIZE, after }),
    [after],
  );
  useLiveRefresh(page.reload);
  const rows = page.data?.instances ?? [];
  const next = page.data?.next;
  return (
    <section aria-label="Instance list">
      {page.error !== undefined && <ErrorNote>Cannot list instances: {describeError(page.error)}</ErrorNote>}
      <InstanceTable rows={rows} />
      {page.data && !rows.length && (
        <p>No instances{filters.status || filters.process ? " match" : " yet"}.</p>
      )}
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          disabled={!cursors.length}
          data-testid="page-prev"
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous
        </button>
        <span>Page {cursors.length + 1}</span>
        <button
          type="button"
          disabled={next === undefined}
          data-testid="page-next"
          onClick={() => setCursors([...cursors, next])}
        >
          Next
        </button>
      </nav>
    </section>
  );
}

function InstanceTable({ rows }: { rows: readonly InstanceSummary[] }) {
  return (
    // Focusable: on a narrow screen the table scrolls sideways, by keyboard too.
    <section class="table-wrap" tabindex={0} aria-label="Instances table">
      <table class="instances">
        <caption class="visually-hidden">Instances, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col">Process</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} data-testid="instance-row">
              <td>
                <Link href={instanceHref(row.id)}>{row.id}</Link>
              </td>
              <td>{row.process}</td>
              <td>
                <StatusBadge status={row.status} testId="row-status" />
              </td>
              <td>
                <time dateTime={isoTime(row.createdAt)}>{formatTime(row.createdAt)}</time>
              </td>
              <td>
                <time dateTime={isoTime(row.updatedAt)}>{formatTime(row.updatedAt)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
