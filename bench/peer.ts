/** What the interpreter bench compares docket with: another engine running the same three workloads. */
export type Workload = "sequence" | "while" | "all";

export interface Peer {
  readonly name: string;
  /** Runs one instance of the workload to completion, answering every wait. */
  run(workload: Workload): Promise<unknown>;
  close(): Promise<void>;
}
