/**
 * The pure interpreter: `transition(definition, snapshot, message, now)` returns the next snapshot
 * and the commands to carry out. It reads no clock, makes no random ids and does no I/O; the same
 * inputs always give the same result, which is what makes redelivery and replay safe.
 */
import { EngineError, formatProblem } from "../errors.js";
import type { Definition, JsonObject } from "../language/model.js";
import { checkMessage } from "./check.js";
import { run } from "./flow.js";
import { Machine } from "./machine.js";
import { applyChild, applyEvent, applyOperator, applyReply, applyTimer } from "./messages.js";
import { currentPath } from "./migrate.js";
import { checkSemantics, SEMANTICS, upgradeSnapshot } from "./semantics.js";
import {
  FINAL_STATUSES,
  type LaunchMessage,
  type Message,
  type NodeState,
  type Note,
  nodeState,
  SNAPSHOT_FORMAT,
  type Snapshot,
  type TransitionResult,
} from "./types.js";

function unchanged(snapshot: Snapshot, note: Note): TransitionResult {
  return { snapshot, commands: [], notes: [note] };
}

/** The snapshot a launch starts from: the root scope's defaults with the launch fields over them. */
export function created(
  definition: Definition,
  message: LaunchMessage,
  now: number,
  semantics = SEMANTICS,
): Snapshot {
  const root: JsonObject = {};
  for (const property of definition.root.scope.properties) root[property.name] = property.value;
  Object.assign(root, message.fields);
  return {
    format: SNAPSHOT_FORMAT,
    semantics,
    id: message.instance,
    process: message.process ?? definition.name,
    version: message.version ?? "unversioned",
    status: "running",
    paused: false,
    ...(message.parent ? { parent: message.parent } : {}),
    createdAt: now,
    updatedAt: now,
    steps: 0,
    seq: 0,
    attempts: {},
    scopes: [["0", root]],
    nodes: [],
    held: [],
    incidents: [],
    consumed: [],
  };
}

/**
 * `semantics`: the rules to apply the message under (semantics.ts): the newest for a new step, the
 * one a stored step recorded when it is replayed.
 */
export function transition(
  definition: Definition,
  stored: Snapshot | undefined,
  message: Message,
  now: number,
  semantics = SEMANTICS,
): TransitionResult {
  checkSemantics(stored?.id ?? "", semantics);
  const snapshot = stored && stored.format !== SNAPSHOT_FORMAT ? upgradeSnapshot(stored) : stored;
  // Rules only move forward: a docket older than the one that last stepped the instance must not.
  if (snapshot && snapshot.semantics > semantics)
    throw new EngineError(
      "SemanticsVersion",
      `instance ${snapshot.id} was last stepped under semantics ${snapshot.semantics}; this step would apply ${semantics}: deploy the newer docket`,
    );
  const problems = checkMessage(message);
  if (problems.length) {
    const reason = `malformed message: ${problems.map(formatProblem).join("; ")}`;
    if (snapshot) return unchanged(snapshot, { kind: "rejected", reason });
    throw new EngineError("MessageError", reason);
  }
  if (message.type === "launch") {
    if (snapshot)
      return unchanged(snapshot, {
        kind: "ignored",
        reason: `instance ${snapshot.id} exists already; the launch is a duplicate`,
      });
  } else if (!snapshot) {
    throw new EngineError("NoInstance", `a ${message.type} message needs an instance; launch it first`);
  } else if (FINAL_STATUSES.includes(snapshot.status)) {
    return unchanged(snapshot, {
      kind: "ignored",
      reason: `instance ${snapshot.id} is ${snapshot.status}; the ${message.type} message changes nothing`,
    });
  }
  const m = new Machine(
    definition,
    snapshot ?? created(definition, message as LaunchMessage, now, semantics),
    now,
    semantics,
  );
  m.steps += 1;
  if (!applyMessage(m, snapshot?.moved ? retargeted(snapshot, message) : message) && snapshot)
    return { snapshot, commands: [], notes: m.notes };
  run(m);
  return { snapshot: m.toSnapshot(), commands: m.commands, notes: m.notes };
}

/**
 * A message addressed to a node a migration moved, addressed to where the node is now: only when
 * the node there holds what the message answers (its task, timer, subscription or child), since
 * the new version may run another node at the old path since.
 */
function retargeted(snapshot: Snapshot, message: Message): Message {
  const path = message.type === "reply" ? message.task.node : "node" in message ? message.node : undefined;
  if (path === undefined) return message;
  const node = currentPath(snapshot, path);
  if (node === path || !holds(nodeState(snapshot, node), message)) return message;
  if (message.type === "reply") return { ...message, task: { ...message.task, node } };
  return message.type === "timer" || message.type === "event" || message.type === "child"
    ? { ...message, node }
    : message;
}

function holds(state: NodeState | undefined, message: Message): boolean {
  if (!state) return false;
  switch (message.type) {
    case "reply":
      return state.k === "action" && state.task === message.task.id;
    case "timer":
      return (
        "timer" in state &&
        (state.timer === message.timer || (state.k === "action" && state.beat === message.timer))
      );
    case "event":
      return state.k === "await" && state.subscription === message.subscription;
    case "child":
      return state.k === "call" && state.child === message.child;
    default:
      return false;
  }
}

/** Applies a message; false when it was ignored or rejected (a note says why) and nothing changed. */
function applyMessage(m: Machine, message: Message): boolean {
  switch (message.type) {
    case "launch":
      m.publish("docket.instance.started");
      m.start("0");
      return true;
    case "reply":
      return applyReply(m, message);
    case "timer":
      return applyTimer(m, message);
    case "event":
      return applyEvent(m, message);
    case "child":
      return applyChild(m, message);
    case "operator":
      return applyOperator(m, message);
    case "migrate":
      // It needs the new version's definition too: the runtime applies it (runtime/migration.ts).
      m.note("rejected", "a migrate message is applied by the runtime, which holds both versions");
      return false;
  }
}
