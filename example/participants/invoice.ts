/** Gets only what the action's input mapping sends: the order and the amount. */
export default async function invoice(task: { fields: { order: string; amount: number } }) {
  return { number: `INV-${task.fields.order}-${task.fields.amount}` };
}
