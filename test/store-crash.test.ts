// Processes killed at any moment, and processes racing each other, on one store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openStore } from "../src/store/store.ts";

const drv = (label: string) => createHash("sha256").update(label).digest("hex");
const storeModule = new URL("../src/store/store.ts", import.meta.url).href;

// The child program. Commands arrive as JSON in argv; progress goes to stdout, one marker per line.
const CHILD = `
import { openStore } from ${JSON.stringify(storeModule)};
import { mkdir, writeFile, appendFile } from "node:fs/promises";
import { join } from "node:path";
const cmd = JSON.parse(process.argv[1]);
const say = (s) => process.stdout.write(s + "\\n");
const hang = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks this thread for good
const store = await openStore(cmd.store);
async function bigTree(dir) {
  for (let d = 0; d < cmd.dirs; d++) {
    await mkdir(join(dir, "lib", "d" + d), { recursive: true });
    for (let f = 0; f < cmd.files; f++) await writeFile(join(dir, "lib", "d" + d, "f" + f), "x".repeat(2000) + d + "/" + f);
  }
}
if (cmd.op === "register") {
  say("READY");
  const staging = await store.createStagingDir();
  await bigTree(staging);
  say("STAGED");
  const item = await store.register({
    drvHash: cmd.drvHash, name: "big", version: "1.0.0", stagingDir: staging,
    onPhase: (p) => { say("PHASE " + p); if (p === cmd.pauseAt) { say("PAUSED"); hang(); } },
  });
  say("RESULT " + JSON.stringify(item.path));
} else if (cmd.op === "ensure") {
  const { item, built } = await store.ensureItem({ drvHash: cmd.drvHash, name: "raced", version: "1.0.0" }, async (dir) => {
    await appendFile(cmd.counter, process.pid + "\\n");
    say("BUILDING");
    if (cmd.hang) hang();
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(join(dir, "out"), "built by " + process.pid);
    return { deriver: { pid: process.pid } };
  });
  say("RESULT " + JSON.stringify({ path: item.path, built }));
} else if (cmd.op === "unprivileged") {
  // Runs as an ordinary user: read-only items really are, and gc / repair can still delete them.
  const fs = await import("node:fs/promises");
  const expectFail = async (p, code) => { try { await p; } catch (e) { if (e.code === code) return; throw e; } throw new Error("expected " + code); };
  const staging = await store.createStagingDir();
  await bigTree(staging);
  const a = await store.register({ drvHash: cmd.drvHash, name: "a", version: "1.0.0", stagingDir: staging });
  await expectFail(fs.writeFile(join(a.path, "lib", "d0", "f0"), "y"), "EACCES");
  await expectFail(fs.writeFile(join(a.path, "new"), "y"), "EACCES");
  await expectFail(fs.rm(join(a.path, "lib", "d0", "f0")), "EACCES");
  await fs.chmod(join(a.path, "lib", "d0", "f0"), 0o644);
  await fs.writeFile(join(a.path, "lib", "d0", "f0"), "tampered");
  const v = await store.verify({ repair: true });
  if (v.removed.length !== 1 || v.removed[0] !== a.path) throw new Error("repair: " + JSON.stringify(v));
  const staging2 = await store.createStagingDir();
  await bigTree(staging2);
  const b = await store.register({ drvHash: cmd.drvHash, name: "a", version: "1.0.0", stagingDir: staging2 });
  await store.releaseTempRoots();
  const g = await store.gc();
  if (g.freed.length !== 1 || g.freed[0].path !== b.path) throw new Error("gc: " + JSON.stringify(g));
  say("RESULT " + JSON.stringify((await fs.readdir(cmd.store)).sort()));
}
await store.close();
`;

interface Child {
  proc: ChildProcess;
  lines: string[];
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

type After = { after: (fn: () => Promise<void>) => void };

// Children are killed when their test ends, pass or fail: some of them block forever on purpose.
function startChild(t: After, cmd: Record<string, unknown>, options: { uid?: number; gid?: number } = {}): Child {
  const proc = spawn(process.execPath, ["--input-type=module", "-e", CHILD, JSON.stringify(cmd)], { stdio: ["ignore", "pipe", "pipe"], ...options });
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) await kill(child);
  });
  const lines: string[] = [];
  let stderr = "";
  let buffered = "";
  const waiters: Array<() => void> = [];
  proc.stdout!.on("data", (d) => {
    buffered += d;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on("data", (d) => (stderr += d));
  // "exit" fires once the child is reaped: a killed child no longer exists as a zombie after it.
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const waitFor = async (prefix: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => l.startsWith(prefix));
      if (hit !== undefined) return hit;
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited before ${prefix}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${prefix}; got ${lines.join("|")}; ${stderr}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(50)]);
    }
  };
  const child = { proc, lines, waitFor, exited };
  return child;
}

async function kill(child: Child): Promise<void> {
  child.proc.kill("SIGKILL");
  await child.exited;
}

async function scratch(t: After): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "beamix-crash-"));
  t.after(async () => {
    spawnSync("chmod", ["-R", "u+w", d]);
    await rm(d, { recursive: true, force: true });
  });
  return d;
}

// After recovery there is either a complete valid item or nothing at all, and no debris.
async function assertClean(dir: string, drvHash: string): Promise<"item" | "nothing"> {
  const store = await openStore(dir);
  try {
    const entries = (await readdir(dir)).filter((e) => e !== ".beamix");
    assert.deepEqual(await readdir(join(dir, ".beamix", "tmp")), [], "staging leftovers cleaned");
    const item = store.queryByDrvHash(drvHash);
    const report = await store.verify();
    assert.deepEqual(report.problems, []);
    if (item) {
      assert.deepEqual(entries, [item.path.slice(dir.length + 1)]);
      assert.deepEqual(store.debugState().rows, entries);
      return "item";
    }
    assert.deepEqual(entries, []);
    assert.deepEqual(store.debugState().rows, []);
    return "nothing";
  } finally {
    await store.close();
  }
}

const TREE = { dirs: 20, files: 60 };

test("SIGKILL at each step of register leaves no item and no row, and the next open cleans up", async (t) => {
  const d = await scratch(t);
  for (const pauseAt of ["read-only", "hashed", "renamed", "registered"]) {
    const dir = join(d, pauseAt);
    const drvHash = drv(pauseAt);
    const child = startChild(t, { op: "register", store: dir, drvHash, pauseAt, ...TREE });
    await child.waitFor("PAUSED");
    await kill(child);
    // Look before recovering: the debris each moment leaves.
    const raw = await openStore(dir, { recover: false });
    const final = raw.itemPath(drvHash, "big", "1.0.0");
    const hasDir = await lstat(final).then(() => true, () => false);
    const tmp = await readdir(join(dir, ".beamix", "tmp"));
    assert.equal(hasDir, pauseAt === "renamed" || pauseAt === "registered", pauseAt);
    assert.deepEqual(raw.debugState().rows.length, pauseAt === "registered" ? 1 : 0, pauseAt);
    assert.equal(raw.isValid(final), pauseAt === "registered", pauseAt);
    assert.equal(tmp.length, pauseAt === "read-only" || pauseAt === "hashed" ? 1 : 0, pauseAt);
    // The dead child still owns lock rows; they must be taken over, not waited for.
    assert.ok(raw.debugState().locks.length > 0);
    const report = await raw.recover();
    if (pauseAt === "renamed") assert.deepEqual(report.unregistered, [final]);
    await raw.close();
    assert.equal(await assertClean(dir, drvHash), pauseAt === "registered" ? "item" : "nothing", pauseAt);
    // And the derivation can be registered again.
    const store = await openStore(dir);
    const staging = await store.createStagingDir();
    await writeFile(join(staging, "f"), "again");
    const item = await store.register({ drvHash, name: "big", version: "1.0.0", stagingDir: staging });
    assert.ok(store.isValid(item.path));
    assert.deepEqual(store.debugState().locks, []);
    await store.close();
  }
});

test("SIGKILL at arbitrary moments of staging and registering never leaves a partial item", async (t) => {
  const d = await scratch(t);
  const outcomes: string[] = [];
  for (const [i, delay] of [0, 30, 100, 200, 350, 600, 1000, 1500].entries()) {
    const dir = join(d, `s${i}`);
    const drvHash = drv(`timed-${i}`);
    const child = startChild(t, { op: "register", store: dir, drvHash, ...TREE });
    await child.waitFor("READY");
    await sleep(delay);
    await kill(child);
    const last = child.lines.at(-1) ?? "";
    outcomes.push(`${await assertClean(dir, drvHash)} (${last})`);
  }
  // Not a correctness condition, but the timings should have hit both sides of the commit.
  t.diagnostic(outcomes.join("; "));
  assert.ok(outcomes.some((o) => o.startsWith("nothing")));
});

test("two processes racing for the same derivation build it once", async (t) => {
  const d = await scratch(t);
  const dir = join(d, "store");
  await (await openStore(dir)).close();
  const counter = join(d, "builds");
  await writeFile(counter, "");
  const drvHash = drv("raced");
  const a = startChild(t, { op: "ensure", store: dir, drvHash, counter });
  const b = startChild(t, { op: "ensure", store: dir, drvHash, counter });
  const [ra, rb] = await Promise.all([a.waitFor("RESULT"), b.waitFor("RESULT")]);
  await Promise.all([a.exited, b.exited]);
  const results = [ra, rb].map((l) => JSON.parse(l.slice("RESULT ".length)) as { path: string; built: boolean });
  assert.equal((await readFile(counter, "utf8")).trim().split("\n").length, 1, "fn ran exactly once");
  assert.equal(results[0].path, results[1].path);
  assert.deepEqual(results.map((r) => r.built).sort(), [false, true]);
  assert.equal(await assertClean(dir, drvHash), "item");
});

test("a lock whose holder was SIGKILLed is taken over by the waiting process", async (t) => {
  const d = await scratch(t);
  const dir = join(d, "store");
  await (await openStore(dir)).close();
  const counter = join(d, "builds");
  await writeFile(counter, "");
  const drvHash = drv("taken-over");
  const first = startChild(t, { op: "ensure", store: dir, drvHash, counter, hang: true });
  await first.waitFor("BUILDING");
  const second = startChild(t, { op: "ensure", store: dir, drvHash, counter });
  await sleep(500);
  assert.equal((await readFile(counter, "utf8")).trim().split("\n").length, 1, "the second waits while the first lives");
  assert.equal(second.lines.length, 0);
  await kill(first);
  const result = JSON.parse((await second.waitFor("RESULT")).slice("RESULT ".length));
  await second.exited;
  assert.equal(result.built, true);
  assert.deepEqual((await readFile(counter, "utf8")).trim().split("\n"), [String(first.proc.pid), String(second.proc.pid)]);
  assert.equal(await readFile(join(result.path, "out"), "utf8"), `built by ${second.proc.pid}`);
  assert.equal(await assertClean(dir, drvHash), "item");
});

test("as an unprivileged user, items are read-only and gc and repair can still delete them", async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("not root: the other tests already run unprivileged");
    return;
  }
  const d = await scratch(t);
  const dir = join(d, "store");
  await mkdir(dir);
  for (const p of [d, dir]) await chown(p, 65534, 65534);
  const child = startChild(t, { op: "unprivileged", store: dir, drvHash: drv("unprivileged"), dirs: 3, files: 3 }, { uid: 65534, gid: 65534 });
  const code = await child.exited;
  const result = child.lines.find((l) => l.startsWith("RESULT"));
  assert.equal(code, 0, child.lines.join("\n"));
  assert.deepEqual(JSON.parse(result!.slice("RESULT ".length)), [".beamix"]);
});
