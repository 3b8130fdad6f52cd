/**
 * Fault injection for the ports: wraps a port so that chosen calls (counted across every wrapped
 * port) fail or "kill the process" just before or just after they run. The soak (test/soak) uses it
 * on the embedded and the AWS adapters to prove that a crash anywhere loses nothing and applies
 * nothing twice. Nothing in production wraps its ports.
 */
import { InfrastructureError } from "../errors.js";

export type FaultKind = "fail" | "kill";
export type FaultMoment = "before" | "after";

export interface Fault {
  /** Which port call, counting from 1 across every port the injector wraps. */
  readonly call: number;
  readonly moment: FaultMoment;
  readonly kind: FaultKind;
}

/**
 * An injected kill: the process is gone. Whoever catches it must drop everything it holds in memory
 * and start again from what is stored, as a restarted process would.
 */
export class InjectedCrash extends Error {
  override readonly name = "InjectedCrash";
}

/** The methods of each port that the advance loop calls (others, like an emitter's, are left alone). */
export const PORT_METHODS = {
  store: ["load", "save", "note", "markSent"],
  dispatcher: ["sendTask", "sendTasks", "startTimer", "cancelTimer", "enqueue", "enqueueMany", "publish"],
  subscriptions: ["subscribe", "unsubscribe", "unsubscribeInstance", "record", "matching"],
  definitions: ["resolve", "byHash"],
} as const;

export class FaultInjector {
  /** Port calls made so far, through every port wrapped by this injector. */
  calls = 0;
  /** What fired, as `<call> <kind> <moment> <port>.<method>`. */
  readonly fired: string[] = [];
  private readonly byCall: ReadonlyMap<number, Fault>;

  constructor(faults: readonly Fault[]) {
    this.byCall = new Map(faults.map((f) => [f.call, f]));
  }

  wrap<T extends object>(port: T, name: keyof typeof PORT_METHODS): T {
    const methods: readonly string[] = PORT_METHODS[name];
    return new Proxy(port, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== "function" || typeof key !== "string" || !methods.includes(key)) {
          return typeof value === "function" ? value.bind(target) : value;
        }
        return async (...args: unknown[]) => {
          const call = ++this.calls;
          const fault = this.byCall.get(call);
          const where = `${name}.${key}`;
          if (fault?.moment === "before") this.fire(fault, where);
          const result = await value.apply(target, args);
          if (fault?.moment === "after") this.fire(fault, where);
          return result;
        };
      },
    });
  }

  private fire(fault: Fault, where: string): never {
    this.fired.push(`${fault.call} ${fault.kind} ${fault.moment} ${where}`);
    if (fault.kind === "kill")
      throw new InjectedCrash(`killed ${fault.moment} ${where} (call ${fault.call})`);
    throw new InfrastructureError(`injected failure ${fault.moment} ${where} (call ${fault.call})`);
  }
}
