/**
 * The AWS host of the operations API: the instance store and definitions on DynamoDB, launches,
 * events and operator messages signed into the inbox by the dispatcher, as docket's other
 * messages are. Workers have their SQS queues, so no tasks are served over HTTP here.
 */
import { EngineOperations, type OperationsPort } from "../runtime/operations.js";
import type { AwsDeps } from "./deps.js";
import { awsScheduler } from "./schedules.js";

export function awsOperations(deps: AwsDeps): OperationsPort {
  return new EngineOperations({
    name: "aws",
    store: deps.runtime.deps.store,
    definitions: deps.definitions,
    clock: { now: deps.now },
    launch: (request) => deps.runtime.launch(request),
    publish: (request) => deps.runtime.publish(request),
    enqueue: (instance, message) => deps.dispatcher.enqueue(instance, message),
    // The advance function takes an inbox message within a second or two; API Gateway waits 30 s.
    operatorWaitMs: 10_000,
    schedules: (count) => awsScheduler(deps).list(count),
  });
}
