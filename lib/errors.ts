/**
 * The one error hierarchy of docket. Every error a user can cause is a DocketError with a stable
 * `code`; infrastructure failures are wrapped with `{ cause }` so nothing is lost.
 */

/** Where a problem is: a file and a line:col, or a field path in a message or document. */
export interface Location {
  readonly file?: string;
  readonly line?: number;
  readonly col?: number;
  readonly path?: string;
}

/** One problem found while reading or validating input. */
export interface Problem extends Location {
  readonly message: string;
}

export function formatLocation(location: Location): string {
  const parts: string[] = [];
  if (location.file !== undefined) parts.push(location.file);
  if (location.line !== undefined) parts.push(String(location.line));
  if (location.line !== undefined && location.col !== undefined) parts.push(String(location.col));
  const where = parts.join(":");
  if (location.path !== undefined) return where ? `${where} (${location.path})` : location.path;
  return where;
}

export function formatProblem(problem: Problem): string {
  const where = formatLocation(problem);
  return where ? `${where}: ${problem.message}` : problem.message;
}

export class DocketError extends Error {
  /** A stable, matchable name for this kind of failure. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DocketError";
    this.code = code;
  }
}

/** Marks a CriticalError (and its subclasses, whatever their name) across copies of this file. */
const CRITICAL = Symbol.for("docket.CriticalError");

/**
 * Thrown by a participant's handler (a worker's, a participant module's): a `critical` reply, a
 * fault in the process, never retried.
 */
export class CriticalError extends DocketError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "CriticalError";
    Object.defineProperty(this, CRITICAL, { value: true });
  }
}

/**
 * Whether a handler's error asks for a `critical` reply: by a registered symbol or the name, not
 * by class, as a module loaded beside docket (a user's participant through tsx) may hold a
 * CriticalError class of another copy of this file.
 */
export const isCriticalError = (error: unknown): error is DocketError =>
  error instanceof Error &&
  ((error as unknown as Record<symbol, unknown>)[CRITICAL] === true || error.name === "CriticalError") &&
  typeof (error as DocketError).code === "string";

/** A definition (XML, YAML or JSON) that cannot be used; `problems` lists every problem found. */
export class DefinitionError extends DocketError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], options?: { cause?: unknown }) {
    const shown = problems.slice(0, 20).map(formatProblem);
    const more = problems.length > shown.length ? [`… and ${problems.length - shown.length} more`] : [];
    super("DefinitionError", [`invalid definition:`, ...shown, ...more].join("\n  "), options);
    this.name = "DefinitionError";
    this.problems = problems;
  }
}

/** An expression that does not compile or fails when evaluated. */
export class ExpressionError extends DocketError {
  readonly expression: string;

  constructor(expression: string, message: string, options?: { cause?: unknown }) {
    super("ExpressionError", message, options);
    this.name = "ExpressionError";
    this.expression = expression;
  }
}

/** A message (launch, reply, event, operator command) that is malformed or not allowed now. */
export class MessageError extends DocketError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], options?: { cause?: unknown }) {
    super("MessageError", `invalid message: ${problems.map(formatProblem).join("; ")}`, options);
    this.name = "MessageError";
    this.problems = problems;
  }
}

/** A scenario file that is malformed, or a scenario step that cannot happen. */
export class ScenarioError extends DocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ScenarioError", message, options);
    this.name = "ScenarioError";
  }
}

/** A state or definition that the engine cannot find or does not accept. */
export class EngineError extends DocketError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "EngineError";
  }
}

/** Another writer saved the instance first (optimistic concurrency); the message is retried. */
export class ConflictError extends DocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("Conflict", message, options);
    this.name = "ConflictError";
  }
}

/** A store, queue or participant failed; `cause` holds the underlying error. */
export class InfrastructureError extends DocketError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("InfrastructureError", message, options);
    this.name = "InfrastructureError";
  }
}
