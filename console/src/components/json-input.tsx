/** A textarea for a JSON object (an instance's fields): parsed and checked before anything is sent. */
import { useId } from "preact/hooks";

export type Parsed =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly error: string };

/** Parses `text` as a JSON object; empty text is no fields. */
export function parseFields(text: string): Parsed {
  if (!text.trim()) return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { ok: false, error: "the fields must be a JSON object ({ … })" };
  return { ok: true, value: value as Record<string, unknown> };
}

interface JsonInputProps {
  readonly label: string;
  readonly value: string;
  readonly onInput: (text: string) => void;
  /** The parse error to show, once the user tried to send. */
  readonly error?: string;
  readonly testId?: string;
  readonly rows?: number;
}

export function JsonInput({ label, value, onInput, error, testId, rows = 6 }: JsonInputProps) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea
        id={id}
        class="code"
        rows={rows}
        spellcheck={false}
        value={value}
        placeholder='{ "key": "value" }'
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        data-testid={testId}
        onInput={(event) => onInput(event.currentTarget.value)}
      />
      {error && (
        <p id={errorId} class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
