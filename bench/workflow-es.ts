/**
 * The three interpreter workloads on workflow-es, driven the way its queue workers drive an
 * instance (load, execute one round, persist; an event marks the waiting pointer published) but
 * without their polling timers, so what is measured is its engine. Each docket action (a task
 * answered by a reply) is a workflow-es `waitFor` step answered by an event: the same work.
 * Event and subscription records are not persisted, which favours workflow-es.
 */
import {
  configureWorkflow,
  ExecutionResult,
  type IWorkflowExecutor,
  type IWorkflowRegistry,
  StepBody,
  TYPES,
  type WorkflowBase,
  type WorkflowBuilder,
  WorkflowInstance,
  WorkflowStatus,
} from "workflow-es";
import { ExecutionPointerFactory } from "workflow-es/build/src/services/execution-pointer-factory.js";
import type { Peer, Workload } from "./peer.js";

class Work extends StepBody {
  run(): Promise<ExecutionResult> {
    return ExecutionResult.next();
  }
}

interface Data {
  i: number;
}

type Builder = ReturnType<WorkflowBuilder<Data>["startWith"]>;

/** A step standing for a docket action: wait for the participant's reply, keep its data. */
function action(step: Builder): Builder {
  return step
    .waitFor("reply", () => "k")
    .output((wait: { eventData: unknown }, data: Data) => {
      data.i = typeof wait.eventData === "number" ? wait.eventData : data.i;
    }) as unknown as Builder;
}

class SequenceWorkflow implements WorkflowBase<Data> {
  id = "sequence";
  version = 1;
  build(builder: WorkflowBuilder<Data>): void {
    let step = builder.startWith(Work) as Builder;
    for (let i = 0; i < 100; i++) step = action(step);
  }
}

class WhileWorkflow implements WorkflowBase<Data> {
  id = "while";
  version = 1;
  build(builder: WorkflowBuilder<Data>): void {
    builder
      .startWith(Work)
      .while((data) => data.i < 1000)
      .do((then) => action(then.startWith(Work) as Builder));
  }
}

class AllWorkflow implements WorkflowBase<Data> {
  id = "all";
  version = 1;
  build(builder: WorkflowBuilder<Data>): void {
    let parallel = builder.startWith(Work).parallel();
    for (let i = 0; i < 10; i++)
      parallel = parallel.do((branch) => action(branch.startWith(Work) as Builder));
    parallel.join().then(Work);
  }
}

/**
 * A Map-based in-memory store: workflow-es's own memory provider scans an ever-growing array. A
 * finished instance is dropped, as docket's side keeps no snapshot: a heap growing with every run
 * would slow the collector for the peer alone.
 */
function mapStore() {
  const instances = new Map<string, WorkflowInstance>();
  let next = 0;
  return {
    async create(instance: WorkflowInstance): Promise<string> {
      instance.id = String(++next);
      instances.set(instance.id, instance);
      return instance.id;
    },
    async persist(instance: WorkflowInstance): Promise<void> {
      instances.set(instance.id, instance);
    },
    async load(id: string): Promise<WorkflowInstance> {
      return instances.get(id) as WorkflowInstance;
    },
    drop(id: string): void {
      instances.delete(id);
    },
  };
}

/** Runs a workload to completion, answering every wait; resolves to the rounds executed. */
export function workflowEs(): Peer & { run(workload: Workload): Promise<number> } {
  const container = configureWorkflow().getContainer();
  const registry = container.get<IWorkflowRegistry>(TYPES.IWorkflowRegistry);
  const executor = container.get<IWorkflowExecutor>(TYPES.IWorkflowExecutor);
  const pointers = new ExecutionPointerFactory();
  const store = mapStore();
  for (const workflow of [new SequenceWorkflow(), new WhileWorkflow(), new AllWorkflow()])
    registry.registerWorkflow(workflow);
  return {
    name: "workflow-es",
    close: async () => undefined,
    async run(workload) {
      const def = registry.getDefinition(workload, 1);
      const instance = new WorkflowInstance();
      Object.assign(instance, {
        data: { i: 0 },
        workflowDefinitionId: def.id,
        version: 1,
        nextExecution: 0,
        createTime: new Date(),
        status: WorkflowStatus.Runnable,
      });
      instance.executionPointers.push(pointers.buildGenesisPointer(def));
      const id = await store.create(instance);
      let rounds = 0;
      for (;;) {
        const loaded = await store.load(id);
        if (loaded.status !== WorkflowStatus.Runnable) {
          store.drop(id);
          return rounds;
        }
        const result = await executor.execute(loaded);
        await store.persist(loaded);
        rounds++;
        // The participant answers each new subscription, applied as EventQueueWorker.seedSubscription does.
        for (const subscription of result.subscriptions) {
          for (const pointer of loaded.executionPointers) {
            if (pointer.eventName !== subscription.eventName || pointer.eventKey !== subscription.eventKey)
              continue;
            if (pointer.eventPublished) continue;
            pointer.eventData = (loaded.data as Data).i + 1;
            pointer.eventPublished = true;
            pointer.active = true;
          }
          loaded.nextExecution = 0;
          await store.persist(loaded);
        }
        if (rounds > 100_000) throw new Error(`workflow-es ${workload} did not finish`);
      }
    },
  };
}
