/**
 * Schedules on AWS, through the engine's own timers: every minute the sweep brings the schedules
 * in force (the construct's `schedules`, and those of each process's latest version) in line and
 * arms the fires of the next fifteen minutes as messages on the timer queue, each delayed until
 * its fire (SQS's most is fifteen minutes); the timer relay, given a schedule's fire, launches it
 * (lib/runtime/schedules.ts). One item per schedule:
 *
 *   SCHEDULES   <name>   schedule (JSON), hash, planned, launched { fire, instance }, last { fire, at, result, … }
 *
 * The sweep writes the declaration and plan, the relay only `launched` and `last` (the relay may
 * write nothing else in the table).
 */
import { DeleteCommand, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { TimerMessage } from "../engine/types.js";
import type { Definition } from "../language/model.js";
import type { Schedule } from "../language/schedule.js";
import type { FireOutcome, ScheduleState, ScheduleStore } from "../ports.js";
import { declaredSchedules, Scheduler } from "../runtime/schedules.js";
import { queryAll } from "./calls.js";
import type { AwsDeps } from "./deps.js";
import { aws, type TableRef } from "./table.js";
import { MAX_SQS_DELAY_S } from "./timers.js";

export const SCHEDULES_PARTITION = "SCHEDULES";

function stateOf(item: Record<string, unknown>): ScheduleState {
  return {
    schedule: JSON.parse(String(item.schedule)) as Schedule,
    hash: String(item.hash),
    planned: Number(item.planned),
    ...(item.launched ? { launched: item.launched as ScheduleState["launched"] } : {}),
    ...(item.last ? { last: item.last as FireOutcome } : {}),
  };
}

export class DynamoScheduleStore implements ScheduleStore {
  constructor(private readonly table: TableRef) {}

  private key(name: string) {
    return { pk: SCHEDULES_PARTITION, sk: name };
  }

  async list(): Promise<ScheduleState[]> {
    const items = await queryAll(this.table, "reading the schedules", {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": SCHEDULES_PARTITION },
      ConsistentRead: true,
    });
    return items.map(stateOf);
  }

  async get(name: string): Promise<ScheduleState | undefined> {
    const { Item } = await aws(`reading schedule ${name}`, () =>
      this.table.client.send(
        new GetCommand({ TableName: this.table.name, Key: this.key(name), ConsistentRead: true }),
      ),
    );
    return Item ? stateOf(Item) : undefined;
  }

  async plan(state: Pick<ScheduleState, "schedule" | "hash" | "planned">): Promise<void> {
    await aws(`planning schedule ${state.schedule.name}`, () =>
      this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: this.key(state.schedule.name),
          UpdateExpression: "SET #schedule = :schedule, #hash = :hash, #planned = :planned",
          ExpressionAttributeNames: { "#schedule": "schedule", "#hash": "hash", "#planned": "planned" },
          ExpressionAttributeValues: {
            ":schedule": JSON.stringify(state.schedule),
            ":hash": state.hash,
            ":planned": state.planned,
          },
        }),
      ),
    );
  }

  /** Only over an existing schedule, and not over a later fire's outcome (two relays at once). */
  async recordFire(name: string, outcome: FireOutcome): Promise<void> {
    const launched = outcome.result === "launched" && outcome.instance !== undefined;
    try {
      await aws(`recording a fire of schedule ${name}`, () =>
        this.table.client.send(
          new UpdateCommand({
            TableName: this.table.name,
            Key: this.key(name),
            UpdateExpression: launched ? "SET #last = :last, #launched = :launched" : "SET #last = :last",
            ConditionExpression:
              "attribute_exists(pk) AND (attribute_not_exists(#last) OR #last.#fire <= :fire)",
            ExpressionAttributeNames: {
              "#last": "last",
              "#fire": "fire",
              ...(launched ? { "#launched": "launched" } : {}),
            },
            ExpressionAttributeValues: {
              ":last": outcome,
              ":fire": outcome.fire,
              ...(launched
                ? { ":launched": { fire: outcome.fire, instance: outcome.instance, at: outcome.at } }
                : {}),
            },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await aws(`removing schedule ${name}`, () =>
      this.table.client.send(new DeleteCommand({ TableName: this.table.name, Key: this.key(name) })),
    );
  }
}

/** The scheduler over the table; `log` hears what a fire or a plan did besides launching. */
export function awsScheduler(deps: AwsDeps, log?: (line: string) => void): Scheduler {
  return new Scheduler({ store: new DynamoScheduleStore(deps.table), runtime: deps.runtime, log });
}

/**
 * The schedules in force: the construct's, and those each process's latest version declares (the
 * catalogue's items name each process's latest hash; its definition is cached per container).
 */
export async function awsDeclaredSchedules(deps: AwsDeps): Promise<ReturnType<typeof declaredSchedules>> {
  const processes = await queryAll(deps.table, "reading the processes for their schedules", {
    KeyConditionExpression: "pk = :pk AND begins_with(sk, :p)",
    ExpressionAttributeValues: { ":pk": "CATALOGUE", ":p": "P#" },
    ConsistentRead: true,
  });
  const definitions: Pick<Definition, "name" | "schedules">[] = [];
  for (const item of processes) {
    const definition = await deps.definitions.byHash(String(item.hash));
    if (definition?.schedules) definitions.push({ name: String(item.name), schedules: definition.schedules });
  }
  return declaredSchedules(deps.resources.schedules ?? [], definitions);
}

/** The sweep's part: schedules brought in line and their next fifteen minutes of fires armed; returns how many. */
export async function sweepSchedules(deps: AwsDeps, log?: (line: string) => void): Promise<number> {
  const { schedules, conflicts } = await awsDeclaredSchedules(deps);
  for (const conflict of conflicts) log?.(conflict);
  return awsScheduler(deps, log).reconcile(schedules, deps.now() + MAX_SQS_DELAY_S * 1000);
}

/** The relay's part: a schedule's fire, due now. */
export function fireSchedule(
  deps: AwsDeps,
  timer: Pick<TimerMessage, "timer" | "node">,
  log?: (line: string) => void,
): Promise<FireOutcome | undefined> {
  return awsScheduler(deps, log).fire(timer);
}
