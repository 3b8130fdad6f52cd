import type { ComponentChildren } from "preact";

/** An instance status as a badge: coloured, and always spelled out. */
export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span class={`badge status-${status}`} data-testid={testId}>
      {status}
    </span>
  );
}

/** A problem loading something, in words. */
export function ErrorNote({ children }: { children: ComponentChildren }) {
  return (
    <p class="error" role="alert">
      {children}
    </p>
  );
}
