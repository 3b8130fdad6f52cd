/**
 * What an event someone publishes carries, read the one way on both hosts: the embedded HTTP API
 * (`POST /events`, which `docket publish` calls) and the AWS ingest function (an event put on the
 * bus, whose detail-type names it). So `into` and an await condition's `event` see the same data
 * for the same event, wherever it was published.
 *
 * The rule:
 * - bureaucrat's shape, `{ "event": name, "key"?, …fields }` (an `event` text and no `name`):
 *   the name is `event`, the data every other field but `key`;
 * - docket's shape, `{ "name"?, "key"?, "data"?, "id"? }`: the name is `name` (on the bus, the
 *   event's detail-type); the data is `data` when present, else the other fields but the name,
 *   `key` and `id` (on the bus, a detail `{ "key": "R7", "amount": 70 }` gives `{ "amount": 70 }`),
 *   else null; `id`, a text, is the event's id (on the bus, the bus event's id by default).
 * - `key`, a text or a number, is the correlation key (as text).
 */
import { MessageError } from "../errors.js";
import type { Json } from "../language/model.js";
import type { PublishRequest } from "./runtime.js";

/**
 * The publish request an event's body carries. `busName` is the name the carrier gives it (the bus
 * event's detail-type); without one, the body names it in `name`. Throws MessageError naming the
 * field at fault.
 */
export function publishedEvent(body: Readonly<Record<string, unknown>>, busName?: string): PublishRequest {
  const bureaucrat = typeof body.event === "string" && body.name === undefined;
  const name = bureaucrat ? body.event : (busName ?? body.name);
  if (typeof name !== "string" || name === "")
    throw new MessageError([{ path: "name", message: "must name the event" }]);
  const { key } = body;
  if (key !== undefined && typeof key !== "string" && typeof key !== "number")
    throw new MessageError([
      { path: "key", message: `must be a string or a number, got ${JSON.stringify(key)?.slice(0, 80)}` },
    ]);
  // An id that is not a text is refused where a caller can hear of it (POST /events, --publish);
  // on the bus, where nobody would, the event keeps the bus event's id.
  if (
    !bureaucrat &&
    busName === undefined &&
    body.id !== undefined &&
    (typeof body.id !== "string" || body.id === "")
  )
    throw new MessageError([
      { path: "id", message: `must be a non-empty text, got ${JSON.stringify(body.id)?.slice(0, 80)}` },
    ]);
  const id = !bureaucrat && typeof body.id === "string" && body.id !== "" ? body.id : undefined;
  // The fields that name, key or identify the event are not its data.
  const envelope = new Set(bureaucrat ? ["event", "key"] : ["key", "data", "id"]);
  if (!bureaucrat && busName === undefined) envelope.add("name");
  const rest = Object.fromEntries(Object.entries(body).filter(([field]) => !envelope.has(field)));
  const data: Json = bureaucrat
    ? (rest as Json)
    : body.data !== undefined
      ? (body.data as Json)
      : Object.keys(rest).length
        ? (rest as Json)
        : null;
  return { name, ...(key === undefined ? {} : { key: String(key) }), data, ...(id ? { id } : {}) };
}
