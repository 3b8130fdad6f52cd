/** A JSON value as a tree of nested <details>: keys, and each value styled (and named) by its type. */
import type { ComponentChildren } from "preact";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function Scalar({ value }: { value: unknown }) {
  const type = typeOf(value);
  const text = type === "string" ? JSON.stringify(value) : String(value);
  return (
    <span class={`json-${type}`} title={type}>
      {text}
    </span>
  );
}

function Key({ name }: { name: string }) {
  return <span class="json-key">{name}</span>;
}

function Branch({ name, value, depth }: { name: ComponentChildren; value: object; depth: number }) {
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const size = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  if (!entries.length)
    return (
      <>
        {name}
        <span class="json-empty">{Array.isArray(value) ? "[]" : "{}"}</span>
      </>
    );
  return (
    <details open={depth < 2}>
      <summary>
        {name}
        <span class="json-size">{size}</span>
      </summary>
      <ul class="json-tree">
        {entries.map(([key, child]) => (
          <li key={key}>
            <Node name={<Key name={key} />} value={child as Json} depth={depth + 1} />
          </li>
        ))}
      </ul>
    </details>
  );
}

function Node({ name, value, depth }: { name: ComponentChildren; value: Json; depth: number }) {
  if (value !== null && typeof value === "object") return <Branch name={name} value={value} depth={depth} />;
  return (
    <>
      {name}
      <Scalar value={value} />
    </>
  );
}

export function JsonTree({ value, label }: { value: unknown; label: string }) {
  return (
    <div class="json-root">
      <Node name={<span class="json-label">{label}</span>} value={value as Json} depth={0} />
    </div>
  );
}
