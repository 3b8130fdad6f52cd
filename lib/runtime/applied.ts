/** Where a command queued in an instance's inbox stands, read back from the instance's history. */
import type { Message } from "../engine/types.js";
import type { InstanceStore } from "../ports.js";

/**
 * Undefined while the message (of `type`, with `id`) is not applied yet; else the reasons the
 * instance refused it (its `rejected` and `ignored` notes), empty when it was applied.
 */
export async function refusals(
  store: Pick<InstanceStore, "recentHistory">,
  instance: string,
  type: Message["type"],
  id: string,
): Promise<readonly string[] | undefined> {
  const recent = await store.recentHistory(instance, 25);
  const record = recent.find((r) => r.message.type === type && (r.message as { id?: string }).id === id);
  return record?.notes.filter((n) => n.kind === "rejected" || n.kind === "ignored").map((n) => n.reason);
}
