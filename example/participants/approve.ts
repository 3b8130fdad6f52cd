/** Approves large orders up to a budget; beyond it the action fails with a critical reply. */
export default async function approve(task: { fields: { total: number } }) {
  if (task.fields.total > 10_000)
    return { status: "critical", error: { code: "OverBudget", message: "no budget" } };
  return { approved_by: "finance-bot" };
}
