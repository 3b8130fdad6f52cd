/**
 * Hearing of the calls an AWS SDK client makes (SDK middleware), for the tests that count what a
 * piece of the engine costs in calls or read what it sent.
 */

export interface SdkCall {
  /** The command's name, as `SendMessageBatchCommand`. */
  readonly command: string;
  readonly input: Record<string, unknown>;
  /** The answer (to `answered`); undefined when the call failed (it is thrown on after). */
  readonly output?: Record<string, unknown>;
}

export interface CallListeners {
  /** As the call goes out (before any answer: what a deadline or a count must see at once). */
  readonly sent?: (call: SdkCall) => void;
  /** Once it is answered or has failed. */
  readonly answered?: (call: SdkCall) => void;
}

type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;
interface StackClient {
  middlewareStack: {
    add(
      middleware: (next: Next, context: { commandName?: string }) => Next,
      options: { step: "initialize"; name: string },
    ): void;
  };
}

/** Middleware added so far: each needs a name of its own on its client. */
let added = 0;

/** Tells `listeners` of each call `client` makes. */
export function hearCalls(client: unknown, listeners: CallListeners): void {
  added += 1;
  const { sent, answered } = listeners;
  (client as StackClient).middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? "";
      sent?.({ command, input: args.input });
      try {
        const result = await next(args);
        answered?.({ command, input: args.input, output: result.output });
        return result;
      } catch (error) {
        answered?.({ command, input: args.input });
        throw error;
      }
    },
    { step: "initialize", name: `hearCalls${added}` },
  );
}
