/**
 * Heartbeats: an action with `heartbeat` times out when its task goes that long without word from
 * its worker (Step Functions' HeartbeatSeconds). A heartbeat only records when it was heard; the
 * one timer, when it fires, either finds a later heartbeat and is set again from it, or raises
 * `Timeout`. So a worker beating every few seconds costs a step each, never a timer each.
 */
import type { ActionNode } from "../language/model.js";
import { startTimer, stopTaskTimers } from "./activities.js";
import type { Machine } from "./machine.js";
import type { ActionState, ReplyMessage } from "./types.js";
import { raise } from "./unwind.js";

/** Records a heartbeat of the task the action waits for (the caller has checked it is that task). */
export function applyHeartbeat(m: Machine, path: string, state: ActionState, reply: ReplyMessage): boolean {
  return m.applyAt(path, () => {
    const details = reply.details === undefined ? {} : { details: reply.details };
    m.nodes.set(path, { ...state, heard: m.now, ...details });
  });
}

/** The heartbeat timer fired: set it again from the last heartbeat, or time the task out. */
export function heartbeatDue(m: Machine, path: string, state: ActionState): void {
  const seconds = (m.model(path) as ActionNode).heartbeat ?? 0;
  const due = state.heard === undefined ? 0 : state.heard + Math.round(seconds * 1000);
  if (due > m.now) {
    m.nodes.set(path, { ...state, beat: startTimer(m, path, seconds, state.heard) });
    return;
  }
  m.nodes.set(path, stopTaskTimers(m, { ...state, beat: undefined }));
  const last = state.heard === undefined ? "none since it was sent" : "none since the last one";
  raise(m, path, "Timeout", `task ${state.task} sent no heartbeat for ${seconds} s (${last})`);
}
