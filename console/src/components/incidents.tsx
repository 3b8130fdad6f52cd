/**
 * An instance's incidents (actions whose error replies ran out of retries), each with the operator's
 * three ways on: retry the task, skip it (with the fields it should have returned) or fail it.
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { Incident } from "../../../lib/engine/types.js";
import { operateAndRefresh } from "../api.js";
import { formatPreciseTime } from "../format.js";
import { ActionDialog, InvalidInput } from "./dialog.js";
import { JsonInput, parseFields } from "./json-input.js";

type IncidentAction = "retry" | "skip" | "fail";

/** The incident chosen by id: a refresh brings new incident objects, and may take it away. */
type Choice = { readonly action: IncidentAction; readonly incidentId: string };

const ACTIONS: readonly IncidentAction[] = ["retry", "skip", "fail"];

interface IncidentsProps {
  readonly instanceId: string;
  readonly incidents: readonly Incident[];
  /** Called once an action was accepted (or refused as stale), to show where things are. */
  readonly onDone: () => void;
}

export function Incidents({ instanceId, incidents, onDone }: IncidentsProps) {
  const titleId = useId();
  const [choice, setChoice] = useState<Choice>();
  const chosen = choice && incidents.find((i) => i.id === choice.incidentId);
  // The incident went away (resolved here or elsewhere): its dialog closes and is forgotten, so a
  // later incident does not reopen it.
  useEffect(() => {
    if (choice && !chosen) setChoice(undefined);
  }, [choice, chosen]);
  if (!incidents.length) return null;
  return (
    <section class="panel incidents" aria-labelledby={titleId}>
      <h2 id={titleId}>Incidents</h2>
      <ul class="incident-list">
        {incidents.map((incident) => (
          <IncidentItem
            key={incident.id}
            incident={incident}
            onChoose={(action) => setChoice({ action, incidentId: incident.id })}
          />
        ))}
      </ul>
      {ACTIONS.map((action) => (
        <IncidentDialog
          key={action}
          action={action}
          instanceId={instanceId}
          incident={choice?.action === action ? chosen : undefined}
          onClose={() => setChoice(undefined)}
          onDone={onDone}
        />
      ))}
    </section>
  );
}

interface IncidentItemProps {
  readonly incident: Incident;
  readonly onChoose: (action: IncidentAction) => void;
}

function IncidentItem({ incident, onChoose }: IncidentItemProps) {
  return (
    <li class="incident" data-testid="incident">
      <p>
        <strong>{incident.error.code}</strong> at node <code>{incident.node}</code>: {incident.error.message}
      </p>
      <p class="muted">
        task <code>{incident.task}</code>, attempt {incident.attempt}, since {formatPreciseTime(incident.at)},
        incident {incident.id}
      </p>
      <div class="buttons">
        <button type="button" onClick={() => onChoose("retry")} data-testid="incident-retry">
          Retry
        </button>
        <button type="button" onClick={() => onChoose("skip")} data-testid="incident-skip">
          Skip…
        </button>
        <button type="button" onClick={() => onChoose("fail")} data-testid="incident-fail">
          Fail…
        </button>
      </div>
    </li>
  );
}

const DIALOGS: Readonly<Record<IncidentAction, { title: string; confirm: string; danger: boolean }>> = {
  retry: { title: "Retry the task", confirm: "Retry", danger: false },
  skip: { title: "Skip the task", confirm: "Skip", danger: false },
  fail: { title: "Fail the task", confirm: "Fail", danger: true },
};

interface IncidentDialogProps {
  readonly action: IncidentAction;
  readonly instanceId: string;
  /** The incident to act on; the dialog is open while there is one. */
  readonly incident?: Incident;
  readonly onClose: () => void;
  readonly onDone: () => void;
}

/** The dialog of one of the three ways on; skip asks for fields, fail for an optional reason. */
function IncidentDialog({ action, instanceId, incident, onClose, onDone }: IncidentDialogProps) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const { title, confirm, danger } = DIALOGS[action];
  const node = incident?.node;
  const confirmed = async () => {
    if (!node) return;
    if (action === "skip") {
      const parsed = parseFields(text);
      if (!parsed.ok) {
        setError(parsed.error);
        throw new InvalidInput(parsed.error);
      }
      setError(undefined);
      await operateAndRefresh(onDone, instanceId, "skip", { node, fields: parsed.value });
    } else if (action === "fail") {
      await operateAndRefresh(onDone, instanceId, "fail", { node, ...(text.trim() ? { reason: text } : {}) });
    } else await operateAndRefresh(onDone, instanceId, "retry", { node });
    setText("");
  };
  return (
    <ActionDialog
      focusAfter="main h1"
      open={incident !== undefined}
      title={title}
      confirmLabel={confirm}
      danger={danger}
      onClose={() => {
        setError(undefined);
        onClose();
      }}
      testId={`${action}-dialog`}
      onConfirm={confirmed}
    >
      <DialogBody action={action} node={node} text={text} setText={setText} error={error} />
    </ActionDialog>
  );
}

interface DialogBodyProps {
  readonly action: IncidentAction;
  readonly node?: string;
  readonly text: string;
  readonly setText: (text: string) => void;
  readonly error?: string;
}

function DialogBody({ action, node, text, setText, error }: DialogBodyProps) {
  const id = useId();
  if (action === "retry")
    return (
      <p>
        Send the task at <code>{node}</code> to its participant again, as a new attempt.
      </p>
    );
  if (action === "skip")
    return (
      <>
        <p>
          Go on past <code>{node}</code> as if the task had replied with these fields (a JSON object; empty
          for none).
        </p>
        <JsonInput label="Fields" value={text} onInput={setText} error={error} testId="skip-fields" />
      </>
    );
  return (
    <>
      <p>
        Raise the incident's error at <code>{node}</code> as a fault: a fault handler may catch it, else the
        instance faults.
      </p>
      <div class="field">
        <label for={id}>Reason (optional)</label>
        <input
          id={id}
          type="text"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          data-testid="fail-reason"
        />
      </div>
    </>
  );
}
