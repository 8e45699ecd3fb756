// Runs a DAG of tasks in dependency order, at most `jobs` at a time. A task runs once all of its
// dependencies succeeded; when one fails, its dependents are skipped, and (unless keepGoing) no new
// task starts, though running ones finish.
import { BeamixError } from "../errors.ts";

export interface DagTask<T> {
  key: string;
  deps: readonly string[];
  run(): Promise<T>;
}

export type DagOutcome<T> =
  | { status: "ok"; value: T }
  | { status: "failed"; error: unknown }
  | { status: "skipped"; reason: string }; // a dependency failed, or the run stopped early

export async function runDag<T>(tasks: readonly DagTask<T>[], opts: { jobs: number; keepGoing?: boolean }): Promise<Map<string, DagOutcome<T>>> {
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  for (const t of tasks) {
    for (const d of t.deps) if (!byKey.has(d)) throw new Error(`task ${t.key} depends on unknown task ${d}`);
  }
  const outcomes = new Map<string, DagOutcome<T>>();
  const dependents = new Map<string, string[]>();
  const waitingOn = new Map<string, number>();
  for (const t of tasks) {
    waitingOn.set(t.key, new Set(t.deps).size);
    for (const d of new Set(t.deps)) dependents.set(d, [...(dependents.get(d) ?? []), t.key]);
  }
  assertAcyclic(tasks, dependents, waitingOn);
  const ready = tasks.filter((t) => waitingOn.get(t.key) === 0).map((t) => t.key);
  let running = 0;
  let stopping = false;
  const jobs = Math.max(1, opts.jobs);

  const skipDependents = (key: string, reason: string) => {
    for (const k of dependents.get(key) ?? []) {
      if (outcomes.has(k)) continue;
      outcomes.set(k, { status: "skipped", reason });
      skipDependents(k, reason);
    }
  };

  await new Promise<void>((resolveAll) => {
    const pump = () => {
      while (!stopping && running < jobs && ready.length > 0) {
        const key = ready.shift()!;
        if (outcomes.has(key)) continue;
        running++;
        byKey
          .get(key)!
          .run()
          .then(
            (value) => {
              outcomes.set(key, { status: "ok", value });
              for (const k of dependents.get(key) ?? []) {
                const left = waitingOn.get(k)! - 1;
                waitingOn.set(k, left);
                if (left === 0) ready.push(k);
              }
            },
            (error: unknown) => {
              outcomes.set(key, { status: "failed", error });
              skipDependents(key, `${key} failed`);
              if (!opts.keepGoing) stopping = true;
            },
          )
          .finally(() => {
            running--;
            pump();
          });
      }
      if (running === 0) {
        for (const t of tasks) if (!outcomes.has(t.key)) outcomes.set(t.key, { status: "skipped", reason: "stopped after a failure" });
        resolveAll();
      }
    };
    pump();
  });
  return outcomes;
}

// Kahn's algorithm on a copy of the counters: whatever never becomes ready sits on a cycle.
function assertAcyclic<T>(tasks: readonly DagTask<T>[], dependents: Map<string, string[]>, waitingOn: Map<string, number>): void {
  const left = new Map(waitingOn);
  const queue = tasks.filter((t) => left.get(t.key) === 0).map((t) => t.key);
  let seen = 0;
  while (queue.length) {
    const key = queue.pop()!;
    seen++;
    for (const k of dependents.get(key) ?? []) {
      const n = left.get(k)! - 1;
      left.set(k, n);
      if (n === 0) queue.push(k);
    }
  }
  if (seen < tasks.length) {
    const cyclic = tasks.filter((t) => left.get(t.key)! > 0).map((t) => t.key);
    throw new BeamixError(`dependency cycle among ${cyclic.join(", ")}`);
  }
}
