/**
 * The definitions page: each process with its versions (the selected one's source and diagram
 * shown, kept in the URL) and a launch form; the files the engine rejected, with their problems.
 */
import type { TargetedSubmitEvent } from "preact";
import { useId, useState } from "preact/hooks";
import { api, type Catalogue, describeError } from "../api.js";
import { Diagram } from "../components/diagram.js";
import { JsonInput, parseFields } from "../components/json-input.js";
import { ErrorNote } from "../components/status.js";
import { formatTime, isoTime, shortHash } from "../format.js";
import { useInterval, useResource, useTitle } from "../hooks.js";
import { href, instanceHref, Link, navigate } from "../router.js";

type Process = Catalogue["processes"][number];

/** How often the catalogue is read again. */
const CATALOGUE_MS = 10_000;

export function DefinitionsPage({ query }: { query: URLSearchParams }) {
  useTitle("Definitions");
  const catalogue = useResource(api.definitions, []);
  // A file registers (or is rejected) without a step, so no change event tells of it: the
  // catalogue is read again on its own timer, on either host, stream or no stream.
  useInterval(catalogue.reload, CATALOGUE_MS);
  const selected = { process: query.get("process") ?? "", version: query.get("version") ?? "" };
  const data = catalogue.data;
  return (
    <>
      <h1 tabindex={-1}>Definitions</h1>
      {catalogue.error !== undefined && (
        <ErrorNote>Cannot load the definitions: {describeError(catalogue.error)}</ErrorNote>
      )}
      {!data && catalogue.loading && <p>Loading…</p>}
      {data && !data.processes.length && <p>No process is registered.</p>}
      {data?.processes.map((process) => (
        <ProcessCard
          key={process.name}
          process={process}
          version={selected.process === process.name ? selected.version : undefined}
        />
      ))}
      {data && data.rejected.length > 0 && <Rejected rejected={data.rejected} />}
    </>
  );
}

function ProcessCard({ process, version }: { process: Process; version?: string }) {
  const titleId = useId();
  // A hash, a prefix of one, or "latest", as the API takes them.
  const wanted = version === "latest" ? process.hash : version;
  const registered = wanted ? process.versions.find((v) => v.hash.startsWith(wanted)) : undefined;
  const shown = wanted ? (registered?.hash ?? wanted) : undefined;
  return (
    <section class="panel process" aria-labelledby={titleId} data-testid="process">
      <h2 id={titleId}>{process.name}</h2>
      <div class="process-top">
        <Versions process={process} shown={shown} />
        {/* A registered version other than the latest, shown: the form launches that one. */}
        <LaunchForm
          process={process.name}
          version={registered && registered.hash !== process.hash ? registered.hash : undefined}
        />
      </div>
      {shown && <VersionView name={process.name} hash={shown} />}
    </section>
  );
}

function Versions({ process, shown }: { process: Process; shown?: string }) {
  return (
    // Focusable: on a narrow screen the table scrolls sideways, by keyboard too.
    <section class="table-wrap" tabindex={0} aria-label={`Versions of ${process.name}`}>
      <table class="versions">
        <caption class="visually-hidden">Versions of {process.name}, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Registered</th>
          </tr>
        </thead>
        <tbody>
          {process.versions.map((v) => (
            <tr key={v.hash} data-testid="version-row" aria-current={v.hash === shown ? "true" : undefined}>
              {/* The hash is the link: first in the row, it stays on a phone's screen when the table scrolls. */}
              <th scope="row" class="mono">
                {v.hash === shown ? (
                  <>
                    {shortHash(v.hash)} <span class="visually-hidden">(shown)</span>
                  </>
                ) : (
                  <Link
                    href={href("/definitions", { process: process.name, version: v.hash })}
                    aria-label={`show version ${shortHash(v.hash)} of ${process.name}`}
                  >
                    {shortHash(v.hash)}
                  </Link>
                )}
                {v.hash === process.hash && <span class="badge latest">latest</span>}
              </th>
              <td>
                <time dateTime={isoTime(v.registeredAt)}>{formatTime(v.registeredAt)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function VersionView({ name, hash }: { name: string; hash: string }) {
  const version = useResource(() => api.definition(name, hash), [name, hash]);
  const data = version.data;
  return (
    <div class="version-view" data-testid="version-view">
      <h3>
        Version <span class="mono">{shortHash(hash)}</span>
      </h3>
      {version.error !== undefined && (
        <ErrorNote>Cannot load this version: {describeError(version.error)}</ErrorNote>
      )}
      {!data && version.loading && <p>Loading…</p>}
      {data && (
        <div class="version-columns">
          <div>
            <h4>Source</h4>
            <Source text={data.source} />
          </div>
          <div>
            <h4>Diagram</h4>
            <Diagram graph={data.graph} title={`Diagram of ${name} version ${shortHash(hash)}`} />
          </div>
        </div>
      )}
    </div>
  );
}

/** Source with line numbers (drawn by CSS, so a copy takes the text alone). */
function Source({ text }: { text: string }) {
  const lines = text.replace(/\n$/, "").split("\n");
  return (
    // Focusable: a scrolling region must be reachable by keyboard.
    <pre class="source" tabindex={0} data-testid="source">
      <code>
        {lines.map((line, i) => (
          <span key={i} class="line">
            {line}
            {"\n"}
          </span>
        ))}
      </code>
    </pre>
  );
}

function LaunchForm({ process, version }: { process: string; version?: string }) {
  const target = version ? `${process}@${version.slice(0, 8)}` : process;
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: TargetedSubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    const parsed = parseFields(text);
    if (!parsed.ok) return setError(parsed.error);
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const { id } = await api.launch({ process, ...(version ? { version } : {}), fields: parsed.value });
      navigate(instanceHref(id));
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="launch"
      onSubmit={submit}
      data-testid="launch-form"
      data-process={process}
      data-version={version}
    >
      <JsonInput
        label={`Fields to launch ${target} with (JSON object)`}
        value={text}
        onInput={setText}
        error={error}
        rows={4}
        testId="launch-fields"
      />
      <button type="submit" class="primary" aria-disabled={busy} data-testid="launch-submit">
        {busy ? "Launching…" : `Launch ${target}`}
      </button>
    </form>
  );
}

function Rejected({ rejected }: { rejected: Catalogue["rejected"] }) {
  return (
    <section class="panel" aria-labelledby="rejected-title">
      <h2 id="rejected-title">Rejected files</h2>
      <ul class="rejected-list">
        {rejected.map((file) => (
          <li key={file.name} data-testid="rejected">
            <p>
              <strong class="mono">{file.name}</strong>, rejected at{" "}
              <time dateTime={isoTime(file.at)}>{formatTime(file.at)}</time>
            </p>
            <ul class="problems">
              {file.problems.map((problem, i) => (
                <li key={`${i}:${problem}`} class="mono" data-testid="rejected-problem">
                  {problem}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}
