/** Reserves stock for an order: a local module participant returns the fields it changes. */
export default async function reserve(task: { fields: { order_id: string; total: number } }) {
  return { reserved: true, reserved_for: task.fields.order_id };
}
