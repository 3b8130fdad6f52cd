export default async function ship(task: { fields: { order_id: string } }) {
  return { tracking: `TRK-${task.fields.order_id}` };
}
