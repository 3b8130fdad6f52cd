/**
 * What an instance's history says about one node of its graph: its tasks and their replies, its
 * timers, its events, its child instances and the notes naming it. History names nodes by runtime
 * path (`0.3.b1.0`); the graph by static path (`0.3.0`), hence `staticPath` on each side.
 */
import type {
  ChildMessage,
  Command,
  EventMessage,
  JsonObject,
  Note,
  ReplyMessage,
  TaskCommand,
} from "../../lib/engine/types.js";
import { staticPath } from "../../lib/language/validate.js";
import type { HistoryPage } from "../../lib/ports.js";

export type HistoryEntry = HistoryPage["records"][number];

export interface TaskFacts {
  readonly id: string;
  readonly node: string;
  readonly attempt: number;
  readonly participant?: string;
  readonly sent?: JsonObject;
  readonly at?: number;
  readonly replies: { readonly at: number; readonly reply: ReplyMessage }[];
}

export interface TimerFacts {
  readonly timer: string;
  readonly node?: string;
  readonly due?: number;
  readonly setAt?: number;
  readonly firedAt?: number;
  readonly canceledAt?: number;
}

export interface EventFacts {
  readonly subscriptions: {
    subscription: string;
    event: string;
    key?: string;
    at: number;
    endedAt?: number;
  }[];
  readonly received: { readonly at: number; readonly event: EventMessage }[];
}

export interface ChildFacts {
  readonly child: string;
  readonly process?: string;
  readonly at?: number;
  readonly result?: { readonly at: number; readonly message: ChildMessage };
}

export interface NodeFacts {
  readonly tasks: TaskFacts[];
  readonly timers: TimerFacts[];
  readonly events: EventFacts;
  readonly children: ChildFacts[];
  readonly notes: { readonly at: number; readonly note: Note }[];
}

/** Collects the facts of the node with static path `id`. */
export function nodeFacts(records: readonly HistoryEntry[], id: string): NodeFacts {
  const at = (path: string | undefined) => path !== undefined && staticPath(path) === id;
  const tasks = new Map<string, TaskFacts>();
  const timers = new Map<string, TimerFacts>();
  const children = new Map<string, ChildFacts>();
  const events: EventFacts = { subscriptions: [], received: [] };
  const notes: NodeFacts["notes"] = [];
  for (const record of records) {
    readMessage(record, at, { tasks, timers, children, events });
    for (const command of record.commands)
      readCommand(command, record.at, at, { tasks, timers, children, events });
    for (const note of record.notes) if (at(note.node)) notes.push({ at: record.at, note });
  }
  return {
    tasks: [...tasks.values()],
    timers: [...timers.values()],
    events,
    children: [...children.values()],
    notes,
  };
}

interface Facts {
  readonly tasks: Map<string, TaskFacts>;
  readonly timers: Map<string, TimerFacts>;
  readonly children: Map<string, ChildFacts>;
  readonly events: EventFacts;
}

function readMessage(record: HistoryEntry, at: (path?: string) => boolean, facts: Facts): void {
  const message = record.message;
  if (message.type === "reply" && at(message.task.node)) {
    const task = facts.tasks.get(message.task.id) ?? {
      id: message.task.id,
      node: message.task.node,
      attempt: message.task.attempt,
      replies: [],
    };
    task.replies.push({ at: record.at, reply: message });
    facts.tasks.set(task.id, task);
  } else if (message.type === "timer" && at(message.node)) {
    const timer = facts.timers.get(message.timer) ?? { timer: message.timer, node: message.node };
    facts.timers.set(message.timer, { ...timer, firedAt: record.at });
  } else if (message.type === "event" && at(message.node)) {
    facts.events.received.push({ at: record.at, event: message });
  } else if (message.type === "child" && at(message.node)) {
    const child = facts.children.get(message.child) ?? { child: message.child };
    facts.children.set(message.child, { ...child, result: { at: record.at, message } });
  }
}

function taskFacts(command: TaskCommand, time: number, old: TaskFacts | undefined): TaskFacts {
  return {
    id: command.task.id,
    node: command.task.node,
    attempt: command.task.attempt,
    participant: command.task.participant,
    sent: command.fields,
    at: time,
    replies: old?.replies ?? [],
  };
}

function readCommand(command: Command, time: number, at: (path?: string) => boolean, facts: Facts): void {
  switch (command.type) {
    case "task":
      if (at(command.task.node))
        facts.tasks.set(command.task.id, taskFacts(command, time, facts.tasks.get(command.task.id)));
      return;
    case "timer":
      if (at(command.node))
        facts.timers.set(command.timer, {
          timer: command.timer,
          node: command.node,
          due: command.due,
          setAt: time,
        });
      return;
    case "cancel-timer": {
      const timer = facts.timers.get(command.timer);
      if (timer) facts.timers.set(command.timer, { ...timer, canceledAt: time });
      return;
    }
    case "subscribe":
      if (at(command.node)) {
        const { subscription, event, key } = command;
        facts.events.subscriptions.push({
          subscription,
          event,
          ...(key !== undefined ? { key } : {}),
          at: time,
        });
      }
      return;
    case "unsubscribe":
      for (const s of facts.events.subscriptions)
        if (s.subscription === command.subscription) s.endedAt = time;
      return;
    case "start-child":
      if (at(command.parent.node)) {
        const process = "name" in command.process ? command.process.name : "(inline definition)";
        facts.children.set(command.child, { child: command.child, process, at: time });
      }
      return;
    default:
      return;
  }
}

export function isEmpty(facts: NodeFacts): boolean {
  return (
    !facts.tasks.length &&
    !facts.timers.length &&
    !facts.events.subscriptions.length &&
    !facts.events.received.length &&
    !facts.children.length &&
    !facts.notes.length
  );
}
