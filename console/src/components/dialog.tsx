/**
 * Modal dialogs on the native <dialog> element: it traps focus and closes on Escape; we put focus
 * on the first field (or the confirm button) when it opens and back where it was when it closes.
 */
import type { ComponentChildren, TargetedSubmitEvent } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { describeError } from "../api.js";

/** Thrown by an `onConfirm` whose form shows its own error: the dialog stays open and adds none. */
export class InvalidInput extends Error {}

interface ActionDialogProps {
  readonly open: boolean;
  readonly title: string;
  readonly confirmLabel: string;
  /** Styles the confirm button as destructive. */
  readonly danger?: boolean;
  readonly children?: ComponentChildren;
  readonly onClose: () => void;
  /** Does the action; a rejection's message is shown in the dialog, which stays open. */
  readonly onConfirm: () => Promise<void>;
  readonly testId?: string;
  /**
   * Where focus goes after the action succeeded (a selector), when the button that opened the
   * dialog goes away or turns disabled with the change (an incident resolved, Pause once paused).
   */
  readonly focusAfter?: string;
}

function useModal(open: boolean, succeeded: { current: string | undefined }) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      opener.current = document.activeElement;
      dialog.showModal();
      const first = dialog.querySelector<HTMLElement>("textarea, input, select, [data-autofocus]");
      first?.focus();
    } else if (!open && dialog.open) {
      dialog.close();
    }
    if (!open && opener.current) {
      const back = opener.current;
      opener.current = null;
      const target = succeeded.current ? document.querySelector(succeeded.current) : back;
      succeeded.current = undefined;
      if (target instanceof HTMLElement && target.isConnected && !target.matches(":disabled")) target.focus();
      else document.querySelector<HTMLElement>("main h1")?.focus();
    }
  }, [open]);
  return ref;
}

/** Runs `onConfirm` once at a time; closes on success, keeps the error to show on failure. */
function useConfirm(
  open: boolean,
  onConfirm: () => Promise<void>,
  onClose: () => void,
  onSuccess: () => void,
) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (open) setError(undefined);
  }, [open]);
  const submit = async (event: TargetedSubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      onSuccess();
      onClose();
    } catch (failure) {
      if (!(failure instanceof InvalidInput)) setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

export function ActionDialog(props: ActionDialogProps) {
  const { open, title, confirmLabel, danger, children, onClose, onConfirm, testId, focusAfter } = props;
  const succeeded = useRef<string | undefined>(undefined);
  const ref = useModal(open, succeeded);
  const titleId = useId();
  const { busy, error, submit } = useConfirm(open, onConfirm, onClose, () => {
    succeeded.current = focusAfter;
  });
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={titleId}
      data-testid={testId}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <form onSubmit={submit}>
        <h2 id={titleId}>{title}</h2>
        {children}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-buttons">
          {/* A destructive action starts on the way out, not on the action. */}
          <button
            type="button"
            onClick={onClose}
            data-autofocus={danger ? "" : undefined}
            data-testid="dialog-close"
          >
            Close
          </button>
          <button
            type="submit"
            class={danger ? "danger" : "primary"}
            data-testid="dialog-confirm"
            // aria-disabled, not disabled: disabling the focused button would drop focus to the page.
            aria-disabled={busy}
            data-autofocus={danger ? undefined : ""}
          >
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
