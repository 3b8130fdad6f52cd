export default async function notifyCustomer(task: { fields: { "inst:fault": { message: string } } }) {
  return { notified: task.fields["inst:fault"].message };
}
