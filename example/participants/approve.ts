import { CriticalError, type WorkerTask } from "docket/worker";

/** Approves large orders up to a budget; beyond it a CriticalError faults the action. */
export default async function approve(task: Pick<WorkerTask, "fields">) {
  if (Number(task.fields.total) > 10_000) throw new CriticalError("OverBudget", "no budget");
  return { approved_by: "finance-bot" };
}
