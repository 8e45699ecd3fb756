import { test } from "node:test";
import assert from "node:assert/strict";
import { chainLengths, runDag, type DagTask } from "../src/util/dag-scheduler.ts";
import { Semaphore } from "../src/util/semaphore.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tasks(spec: Record<string, string[]>, run: (key: string) => Promise<string>): DagTask<string>[] {
  return Object.entries(spec).map(([key, deps]) => ({ key, deps, run: () => run(key) }));
}

test("runs in dependency order with at most `jobs` at once", async () => {
  const order: string[] = [];
  let running = 0;
  let peak = 0;
  const out = await runDag(
    tasks({ a: [], b: [], c: [], d: ["a", "b"], e: ["d", "c"] }, async (k) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(20);
      order.push(k);
      running--;
      return k.toUpperCase();
    }),
    { jobs: 2 },
  );
  assert.equal(peak, 2);
  assert.ok(order.indexOf("d") > order.indexOf("a") && order.indexOf("d") > order.indexOf("b"));
  assert.equal(order.at(-1), "e");
  assert.deepEqual(Object.fromEntries([...out].map(([k, v]) => [k, v.status === "ok" ? v.value : v.status])), { a: "A", b: "B", c: "C", d: "D", e: "E" });
});

test("a failure skips its dependents; without keepGoing nothing new starts", async () => {
  const started: string[] = [];
  const spec = { bad: [], slow: [], after_bad: ["bad"], later: ["slow"] };
  const run = async (k: string) => {
    started.push(k);
    if (k === "bad") throw new Error("boom");
    await sleep(30);
    return k;
  };
  const stop = await runDag(tasks(spec, run), { jobs: 2 });
  assert.equal(stop.get("bad")!.status, "failed");
  assert.deepEqual(stop.get("after_bad"), { status: "skipped", reason: "bad failed" });
  assert.equal(stop.get("slow")!.status, "ok"); // was running: it finishes
  assert.equal(stop.get("later")!.status, "skipped");
  assert.ok(!started.includes("later"));

  started.length = 0;
  const going = await runDag(tasks(spec, run), { jobs: 2, keepGoing: true });
  assert.equal(going.get("later")!.status, "ok");
  assert.equal(going.get("after_bad")!.status, "skipped");
});

test("a dependency cycle is refused before anything runs", async () => {
  let ran = false;
  await assert.rejects(
    runDag(tasks({ a: ["b"], b: ["a"], c: [] }, async (k) => ((ran = true), k)), { jobs: 1 }),
    /dependency cycle among a, b/,
  );
  assert.equal(ran, false);
});

test("the ready task heading the longest chain of dependents goes first; chainLengths counts it", async () => {
  const spec = { leaf: [], a: [], b: ["a"], c: ["b"] };
  const order: string[] = [];
  await runDag(tasks(spec, async (k) => (order.push(k), k)), { jobs: 1 });
  assert.deepEqual(order, ["a", "b", "leaf", "c"]);
  assert.deepEqual(Object.fromEntries(chainLengths(tasks(spec, async (k) => k))), { leaf: 1, c: 1, b: 2, a: 3 });
});

test("a semaphore lets the highest priority waiter go next, first come first served among equals", async () => {
  const slots = new Semaphore(1);
  const order: string[] = [];
  let release!: () => void;
  const first = slots.use(() => new Promise<void>((r) => (release = r)));
  const waiters = [
    slots.use(async () => void order.push("low"), 1),
    slots.use(async () => void order.push("high"), 5),
    slots.use(async () => void order.push("low-2"), 1),
    slots.use(async () => void order.push("mid"), 3),
  ];
  release();
  await Promise.all([first, ...waiters]);
  assert.deepEqual(order, ["high", "mid", "low", "low-2"]);
});
