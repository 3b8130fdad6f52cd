/** How the console writes times, hashes, values and history messages. */
import type { Command, Message } from "../../lib/engine/types.js";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** A time as local `YYYY-MM-DD HH:MM:SS`, the form a table column lines up in. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The time with milliseconds, for the history, where steps come close together. */
export function formatPreciseTime(ms: number): string {
  return `${formatTime(ms)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
}

export const isoTime = (ms: number) => new Date(ms).toISOString();

export const shortHash = (hash: string) => hash.slice(0, 10);

/** A value in one line, cut to `max` characters. */
export function brief(value: unknown, max = 80): string {
  const text = value === undefined ? "" : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A history message as one line: what came in, and for whom. */
export function messageSummary(message: Message): string {
  switch (message.type) {
    case "launch":
      return `launched${message.process ? ` ${message.process}` : ""}${message.fields ? ` with ${brief(message.fields, 60)}` : ""}`;
    case "reply":
      return `reply ${message.status} for task ${message.task.id} at ${message.task.node} (attempt ${message.task.attempt})${message.error ? `: ${message.error.code ?? ""} ${message.error.message ?? ""}` : ""}`;
    case "timer":
      return `timer ${message.timer} fired at ${message.node}`;
    case "event":
      return `event ${message.name}${message.key !== undefined ? ` key ${JSON.stringify(message.key)}` : ""} at ${message.node}`;
    case "child":
      return `child ${message.child} ${message.status} at ${message.node}`;
    case "operator":
      return `operator ${message.action}${message.node ? ` at ${message.node}` : ""}${message.reason ? `: ${message.reason}` : ""}`;
    default:
      return brief(message);
  }
}

/** A command as one line. */
export function commandSummary(command: Command): string {
  switch (command.type) {
    case "task":
      return `task ${command.task.id} to ${command.task.participant} at ${command.task.node} (attempt ${command.task.attempt})`;
    case "timer":
      return `timer ${command.timer} at ${command.node} due ${formatTime(command.due)}`;
    case "cancel-timer":
      return `cancel timer ${command.timer}`;
    case "subscribe":
      return `subscribe ${command.subscription} to ${command.event}${command.key !== undefined ? ` key ${JSON.stringify(command.key)}` : ""} at ${command.node}`;
    case "unsubscribe":
      return `unsubscribe ${command.subscription}`;
    case "start-child":
      return `start child ${command.child}${"name" in command.process ? ` (${command.process.name})` : ""} at ${command.parent.node}`;
    case "cancel-child":
      return `cancel child ${command.child}`;
    case "notify-parent":
      return `notify parent: ${command.message.status}`;
    case "publish":
      return `publish ${command.event}`;
    case "finish":
      return `finish: ${command.status}`;
    default:
      return brief(command);
  }
}
