// Runs a DAG of tasks in dependency order, at most `jobs` at a time. A task runs once all of its
// dependencies succeeded; when one fails, its dependents are skipped, and (unless keepGoing) no new
// task starts, though running ones finish. Among ready tasks, the one heading the longest chain of
// dependents goes first (critical path first): a leaf nothing waits for must not hold a slot while
// the chain that decides the total time waits.
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
  const dependents = dependentsOf(tasks);
  const waitingOn = new Map(tasks.map((t) => [t.key, new Set(t.deps).size]));
  assertAcyclic(tasks, dependents, waitingOn);
  const priority = chainLengths(tasks, dependents);
  const ready = tasks.filter((t) => waitingOn.get(t.key) === 0).map((t) => t.key);
  // The ready task with the longest chain (the first given among equals).
  const takeReady = (): string => {
    let best = 0;
    for (let i = 1; i < ready.length; i++) if (priority.get(ready[i])! > priority.get(ready[best])!) best = i;
    return ready.splice(best, 1)[0];
  };
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
        const key = takeReady();
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

// For each task, the number of tasks on the longest chain from it through its dependents (itself
// included): a leaf has 1. Tasks must be acyclic.
export function chainLengths<T>(tasks: readonly DagTask<T>[], dependents?: Map<string, string[]>): Map<string, number> {
  const below = dependents ?? dependentsOf(tasks);
  const memo = new Map<string, number>();
  const length = (key: string): number => {
    let n = memo.get(key);
    if (n === undefined) {
      n = 1 + Math.max(0, ...(below.get(key) ?? []).map(length));
      memo.set(key, n);
    }
    return n;
  };
  for (const t of tasks) length(t.key);
  return memo;
}

function dependentsOf<T>(tasks: readonly DagTask<T>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of tasks) for (const d of new Set(t.deps)) out.set(d, [...(out.get(d) ?? []), t.key]);
  return out;
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
