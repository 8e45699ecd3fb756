import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { hashTree } from "../src/store/nar.ts";
import { defaultStoreDir, openStore, type Store } from "../src/store/store.ts";
import { Locks } from "../src/store/locks.ts";

const drv = (label: string) => createHash("sha256").update(label).digest("hex");
const isRoot = process.getuid?.() === 0;

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "beamix-store-"));
  t.after(async () => {
    spawnSync("chmod", ["-R", "u+w", d]);
    await rm(d, { recursive: true, force: true });
  });
  return d;
}

async function withStore(t: { after: (fn: () => Promise<void>) => void }): Promise<Store> {
  const store = await openStore(join(await scratch(t), "store"));
  t.after(() => store.close());
  return store;
}

// A staging tree shaped like a real item, with the given extra files.
async function stage(store: Store, name: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await store.createStagingDir();
  const app = join(dir, "lib", "erlang", "lib", `${name}-1.0.0`);
  await mkdir(join(app, "ebin"), { recursive: true });
  await writeFile(join(app, "ebin", `${name}.app`), `{application,${name},[]}.\n`);
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), text, rel.startsWith("bin/") ? { mode: 0o755 } : {});
  }
  return dir;
}

async function add(store: Store, name: string, references: string[] = [], files: Record<string, string> = {}): Promise<string> {
  const item = await store.register({ drvHash: drv(name), name, version: "1.0.0", stagingDir: await stage(store, name, files), references, deriver: { builder: "test", name } });
  return item.path;
}

test("openStore creates the layout; the default directory follows BEAMIX_STORE, then the data dir", async (t) => {
  const d = await scratch(t);
  const store = await openStore(join(d, "a", "store"));
  t.after(() => store.close());
  assert.deepEqual((await readdir(join(store.dir, ".beamix"))).sort(), ["db.sqlite", "db.sqlite-shm", "db.sqlite-wal", "logs", "roots", "store", "tmp"]);
  assert.equal(await readFile(join(store.dir, ".beamix", "store"), "utf8"), "beamix store 1\n");
  assert.equal(store.debugState().schemaVersion, 1);
  const saved = { ...process.env };
  t.after(() => {
    process.env = saved;
  });
  process.env.BEAMIX_STORE = "/somewhere/store";
  assert.equal(defaultStoreDir(), "/somewhere/store");
  delete process.env.BEAMIX_STORE;
  process.env.BEAMIX_DATA_DIR = "/data/beamix";
  assert.equal(defaultStoreDir(), "/data/beamix/store");
});

test("register, query, references and closure", async (t) => {
  const store = await withStore(t);
  const c = await add(store, "c");
  const b = await add(store, "b", [c]);
  const a = await add(store, "a", [b, c]);
  const d = await add(store, "d", [c]);
  assert.equal(a, join(store.dir, `${drv("a")}-a-1.0.0`));
  assert.equal(a, store.itemPath(drv("a"), "a", "1.0.0"));
  const item = store.queryItem(a)!;
  assert.equal(item.drvHash, drv("a"));
  assert.deepEqual([item.name, item.version], ["a", "1.0.0"]);
  assert.deepEqual(item.references, [b, c].sort());
  assert.deepEqual(item.deriver, { builder: "test", name: "a" });
  const tree = await hashTree(a);
  assert.equal(item.narHash, tree.hash);
  assert.equal(item.narSize, tree.size);
  assert.ok(Math.abs(item.registeredAt - Date.now()) < 60_000);
  assert.deepEqual(store.queryByDrvHash(drv("a")), item);
  assert.deepEqual(store.references(b), [c]);
  assert.deepEqual(store.referrers(c), [a, b, d].sort());
  assert.deepEqual(store.closure([a]), [a, b, c].sort());
  assert.deepEqual(store.closure([b, d]), [b, c, d].sort());
  assert.deepEqual(store.listItems().map((i) => i.path), [a, b, c, d].sort());
  assert.ok(store.isValid(a));
  assert.ok(!store.isValid(join(a, "lib")));
  assert.ok(!store.isValid(store.itemPath(drv("zzz"), "zzz", "1.0.0")));
  assert.throws(() => store.closure([store.itemPath(drv("zzz"), "zzz", "1.0.0")]), BeamixError);
  assert.deepEqual(await readdir(join(store.dir, ".beamix", "tmp")), []);
});

test("registered items are read-only", async (t) => {
  const store = await withStore(t);
  const a = await add(store, "a", [], { "bin/run": "#!/bin/sh\n", "priv/data.txt": "x" });
  const mode = async (p: string) => (await lstat(join(a, p))).mode & 0o7777;
  assert.equal(await mode(""), 0o555);
  assert.equal(await mode("lib/erlang/lib/a-1.0.0/ebin"), 0o555);
  assert.equal(await mode("lib/erlang/lib/a-1.0.0/ebin/a.app"), 0o444);
  assert.equal(await mode("bin/run"), 0o555);
  assert.equal(await mode("priv/data.txt"), 0o444);
  if (!isRoot) {
    await assert.rejects(writeFile(join(a, "priv", "data.txt"), "y"), { code: "EACCES" });
    await assert.rejects(writeFile(join(a, "new"), "y"), { code: "EACCES" });
  }
});

test("registration is idempotent and consumes the staging tree", async (t) => {
  const store = await withStore(t);
  const first = await store.register({ drvHash: drv("a"), name: "a", version: "1.0.0", stagingDir: await stage(store, "a") });
  const again = await stage(store, "a", { "other.txt": "different output" });
  const second = await store.register({ drvHash: drv("a"), name: "a", version: "1.0.0", stagingDir: again });
  assert.deepEqual(second, first);
  await assert.rejects(lstat(again), { code: "ENOENT" });
  await assert.rejects(
    store.register({ drvHash: drv("a"), name: "other", version: "1.0.0", stagingDir: await stage(store, "x") }),
    /already registered as/,
  );
});

test("a staging tree from outside the store is moved in; bad input leaves no item and no debris", async (t) => {
  const store = await withStore(t);
  const outside = join(dirname(store.dir), "outside-build");
  await mkdir(join(outside, "ebin"), { recursive: true });
  await writeFile(join(outside, "ebin", "x.app"), "x");
  const item = await store.register({ drvHash: drv("x"), name: "x", version: "2.0", stagingDir: outside });
  assert.ok(store.isValid(item.path));
  await assert.rejects(lstat(outside), { code: "ENOENT" });

  // From another file system (tmpfs) the tree is copied through its serialization.
  const shm = await mkdtemp("/dev/shm/beamix-staging-").catch(() => undefined);
  if (shm && (await lstat(shm)).dev !== (await lstat(store.dir)).dev) {
    t.after(() => rm(shm, { recursive: true, force: true }));
    await mkdir(join(shm, "bin"));
    await writeFile(join(shm, "bin", "tool"), "#!/bin/sh\n", { mode: 0o755 });
    await symlink("bin/tool", join(shm, "link"));
    const expected = await hashTree(shm);
    const moved = await store.register({ drvHash: drv("tmpfs"), name: "tmpfs", version: "1", stagingDir: shm });
    assert.equal(moved.narHash, expected.hash);
    await assert.rejects(lstat(shm), { code: "ENOENT" });
    await store.releaseTempRoots();
    await store.addRoot("x", item.path);
    assert.deepEqual((await store.gc()).freed.map((f) => f.path), [moved.path]);
  } else t.diagnostic("no second file system: cross-device staging not exercised");

  const ghost = store.itemPath(drv("ghost"), "ghost", "1.0.0");
  const bad = await stage(store, "bad");
  await assert.rejects(store.register({ drvHash: drv("bad"), name: "bad", version: "1.0.0", stagingDir: bad, references: [ghost] }), /not a valid store item/);
  const fifo = await stage(store, "fifo");
  spawnSync("mkfifo", [join(fifo, "pipe")]);
  await assert.rejects(store.register({ drvHash: drv("fifo"), name: "fifo", version: "1.0.0", stagingDir: fifo }), /not a regular file/);
  await assert.rejects(store.register({ drvHash: "NOT-A-HASH", name: "x", version: "1", stagingDir: fifo }), /invalid derivation hash/);
  await assert.rejects(store.register({ drvHash: drv("y"), name: "../y", version: "1", stagingDir: fifo }), /invalid store item name/);
  assert.deepEqual(store.listItems().map((i) => i.path), [item.path]);
  assert.deepEqual(store.debugState().rows, [`${drv("x")}-x-2.0`]);
  assert.deepEqual(await readdir(join(store.dir, ".beamix", "tmp")), []);
  assert.deepEqual((await readdir(store.dir)).sort(), [".beamix", `${drv("x")}-x-2.0`]);
});

test("register replaces debris of an earlier crash under the same derivation", async (t) => {
  const dir = join(await scratch(t), "store");
  const store = await openStore(dir, { recover: false });
  t.after(() => store.close());
  const c = await add(store, "c", [], { "priv/v": "1" });
  const b = await add(store, "b", [c]);
  spawnSync("chmod", ["-R", "u+w", c]);
  await rm(c, { recursive: true }); // a row without a directory; b references it
  assert.equal(await add(store, "c", [], { "priv/v": "2" }), c);
  assert.equal(await readFile(join(c, "priv", "v"), "utf8"), "2");
  assert.ok(!store.isValid(b), "what referenced the lost item is gone too");
  assert.deepEqual(store.debugState().rows, [c.slice(dir.length + 1)]);
  const o = store.itemPath(drv("o"), "o", "1.0.0");
  await mkdir(join(o, "junk"), { recursive: true }); // a directory without a row
  assert.equal(await add(store, "o"), o);
  await assert.rejects(lstat(join(o, "junk")), { code: "ENOENT" });
  assert.deepEqual((await store.verify()).problems, []);
  assert.deepEqual(await readdir(join(dir, ".beamix", "tmp")), []);
});

test("ensureItem builds once for concurrent callers in one process", async (t) => {
  const store = await withStore(t);
  let builds = 0;
  const build = async (dir: string) => {
    builds++;
    await new Promise((r) => setTimeout(r, 50));
    await writeFile(join(dir, "out"), "built");
    return { deriver: { n: builds } };
  };
  const spec = { drvHash: drv("p"), name: "p", version: "1.0.0" };
  const results = await Promise.all([store.ensureItem(spec, build), store.ensureItem(spec, build), store.ensureItem(spec, build)]);
  assert.equal(builds, 1);
  assert.deepEqual(results.map((r) => r.built).sort(), [false, false, true]);
  assert.equal(new Set(results.map((r) => r.item.path)).size, 1);
  assert.equal(await readFile(join(results[0].item.path, "out"), "utf8"), "built");
  // A failing build leaves nothing, and the next attempt builds again.
  const failing = { drvHash: drv("f"), name: "f", version: "1.0.0" };
  await assert.rejects(store.ensureItem(failing, async () => { throw new Error("compile error"); }), /compile error/);
  assert.equal(store.queryByDrvHash(drv("f")), undefined);
  assert.deepEqual(await readdir(join(store.dir, ".beamix", "tmp")), []);
  const retry = await store.ensureItem(failing, async (dir) => (await writeFile(join(dir, "ok"), ""), {}));
  assert.ok(retry.built);
});

test("tasks of one process queue for a lock in arrival order; one that gives up does not hold up the rest", async (t) => {
  const store = await withStore(t);
  // Handing the lock on within the process waits for no polling interval (5-200 ms): each task
  // that runs takes the lock at its first try.
  const tries = t.mock.method(Locks.prototype, "tryAcquire");
  const order: number[] = [];
  let holding = 0;
  const hold = (n: number) => async () => {
    holding++;
    assert.equal(holding, 1, "two tasks held the lock at once");
    order.push(n);
    await new Promise((r) => setImmediate(r));
    holding--;
  };
  const aborted = new AbortController();
  const tasks = [0, 1, 2, 3, 4, 5].map((n) => store.withBuildLock(drv("q"), hold(n), n === 3 ? { signal: aborted.signal } : undefined));
  aborted.abort(new Error("gave up"));
  const outcomes = await Promise.allSettled(tasks);
  assert.deepEqual(order, [0, 1, 2, 4, 5]);
  assert.match(String((outcomes[3] as PromiseRejectedResult).reason), /gave up/);
  assert.equal(tries.mock.callCount(), 5, "a task polled for the lock");
  assert.deepEqual(store.debugState().locks, []);
});

test("gc keeps the closure of the roots and frees exactly the rest", async (t) => {
  const store = await withStore(t);
  const c = await add(store, "c", [], { "priv/c.txt": "12345" });
  const b = await add(store, "b", [c]);
  const a = await add(store, "a", [b]);
  const d = await add(store, "d", [c]);
  const e = await add(store, "e");
  const f = await add(store, "f");
  const g = await add(store, "g", [f]);
  await store.releaseTempRoots(); // registering rooted them temporarily for this process
  // A permanent root on a, an indirect root (a link outside the store) on g, and a temporary root on
  // e held by a process that has exited.
  await store.addRoot("profile-1", a);
  const result = join(dirname(store.dir), "result");
  await symlink(g, result);
  await store.addRoot("project-result", result);
  const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
  await symlink(e, join(store.dir, ".beamix", "roots", `temp-${dead}-0-deadbeef-${e.slice(store.dir.length + 1)}`));
  // Our own pid with another start time: a dead process whose pid was reused.
  await symlink(e, join(store.dir, ".beamix", "roots", `temp-${process.pid}-1-deadbeef-${e.slice(store.dir.length + 1)}`));

  const dry = await store.gc({ dryRun: true });
  assert.deepEqual(dry.freed.map((x) => x.path).sort(), [d, e]);
  assert.ok(store.isValid(d) && store.isValid(e));
  assert.deepEqual(dry.staleTempRoots.length, 2);

  const res = await store.gc();
  assert.equal(res.dryRun, false);
  assert.deepEqual(res.roots, [a, g]);
  assert.equal(res.kept, 5);
  assert.deepEqual(res.freed.map((x) => x.path).sort(), [d, e]);
  assert.ok(res.freed.every((x) => x.registered && x.bytes > 0));
  assert.equal(res.bytesFreed, res.freed.reduce((n, x) => n + x.bytes, 0));
  assert.deepEqual(store.listItems().map((i) => i.path), [a, b, c, f, g].sort());
  for (const p of [d, e]) await assert.rejects(lstat(p), { code: "ENOENT" });
  assert.deepEqual((await store.listRoots()).map((r) => r.name), ["profile-1", "project-result"]);
  assert.deepEqual(await readdir(join(store.dir, ".beamix", "tmp")), []);

  // A temporary root of this (live) process keeps an item.
  await store.addTempRoot(f);
  await rm(result);
  assert.ok(await store.removeRoot("profile-1"));
  assert.equal(await store.removeRoot("profile-1"), false);
  const res2 = await store.gc();
  assert.deepEqual(res2.freed.map((x) => x.path).sort(), [a, b, c, g].sort());
  // bytes: the apparent size of c's files, its .app and priv/c.txt.
  assert.equal(res2.freed.find((x) => x.path === c)!.bytes, Buffer.byteLength("{application,c,[]}.\n") + 5);
  assert.deepEqual(store.listItems().map((i) => i.path), [f]);
  await store.releaseTempRoots();
  assert.deepEqual((await store.gc()).freed.map((x) => x.path), [f]);
  assert.deepEqual(store.debugState().rows, []);
  assert.deepEqual((await readdir(store.dir)).sort(), [".beamix"]);
});

test("roots must lead to valid items", async (t) => {
  const store = await withStore(t);
  const a = await add(store, "a");
  await assert.rejects(store.addRoot("x", "/etc"), /does not lead to a valid item/);
  await assert.rejects(store.addRoot("x", store.itemPath(drv("nope"), "nope", "1")), /does not lead to a valid item/);
  await assert.rejects(store.addRoot("temp-1-2-x", a), /invalid GC root name/);
  await assert.rejects(store.addRoot("../escape", a), /invalid GC root name/);
  // A root to a path inside an item protects the item.
  await store.addRoot("inner", join(a, "lib", "erlang"));
  await store.releaseTempRoots();
  assert.deepEqual((await store.gc()).freed, []);
  const roots = await store.listRoots();
  assert.deepEqual(roots.map((r) => [r.name, r.item, r.temporary]), [["inner", a, false]]);
});

test("gc removes directories without rows and leftovers of dead processes", async (t) => {
  const store = await withStore(t);
  const a = await add(store, "a");
  await store.addRoot("a", a);
  const orphan = join(store.dir, `${drv("orphan")}-orphan-1.0.0`);
  await mkdir(join(orphan, "lib"), { recursive: true });
  await writeFile(join(orphan, "lib", "f"), "abc");
  await chmod(join(orphan, "lib"), 0o555);
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  const leftover = join(store.dir, ".beamix", "tmp", `stage-${dead}-0-abcdef`);
  await mkdir(join(leftover, "sub"), { recursive: true });
  await chmod(join(leftover, "sub"), 0o555);
  const mine = await store.createStagingDir(); // live owner: kept
  await writeFile(join(store.dir, "README"), "not an item");
  const res = await store.gc();
  assert.deepEqual(res.freed, [{ path: orphan, bytes: 3, registered: false }]);
  await assert.rejects(lstat(orphan), { code: "ENOENT" });
  await assert.rejects(lstat(leftover), { code: "ENOENT" });
  await lstat(mine);
  await lstat(join(store.dir, "README"));
  assert.ok(store.isValid(a));
});

test("verify detects modified, missing and unregistered items; repair removes them and their referrers", async (t) => {
  const store = await withStore(t);
  const c = await add(store, "c", [], { "priv/data": "original" });
  const b = await add(store, "b", [c]);
  const a = await add(store, "a", [b]);
  const x = await add(store, "x");
  const y = await add(store, "y");
  const clean = await store.verify();
  assert.deepEqual(clean.problems, []);
  assert.equal(clean.ok, 5);

  await chmod(join(c, "priv"), 0o755);
  await chmod(join(c, "priv", "data"), 0o644);
  await writeFile(join(c, "priv", "data"), "tampered");
  spawnSync("chmod", ["-R", "u+w", x]);
  await rm(x, { recursive: true });
  const orphan = join(store.dir, `${drv("orphan")}-orphan-1.0.0`);
  await mkdir(orphan);
  await writeFile(join(store.dir, "stray.txt"), "");

  const report = await store.verify();
  assert.equal(report.checked, 5);
  assert.equal(report.ok, 3);
  assert.deepEqual(report.problems.map((p) => [p.path, p.problem]).sort(), [[c, "modified"], [orphan, "unregistered"], [x, "missing"]].sort());
  assert.match(report.problems.find((p) => p.path === c)!.detail, /recorded/);
  assert.deepEqual(report.foreign, [join(store.dir, "stray.txt")]);
  assert.deepEqual(report.removed, []);
  assert.ok(store.isValid(c), "verify without repair changes nothing");

  const repaired = await store.verify({ repair: true });
  assert.deepEqual(repaired.removed, [a, b, c, orphan, x].sort());
  assert.deepEqual(store.listItems().map((i) => i.path), [y]);
  assert.deepEqual(store.debugState().rows, [y.slice(store.dir.length + 1)]);
  const after = await store.verify();
  assert.deepEqual(after.problems, []);
  assert.equal(after.ok, 1);
  // The removed item can be registered again.
  assert.equal(await add(store, "c", [], { "priv/data": "original" }), c);
});

test("opening a store repairs rows without directories and directories without rows", async (t) => {
  const dir = join(await scratch(t), "store");
  let store = await openStore(dir);
  const c = await add(store, "c");
  const b = await add(store, "b", [c]);
  const a = await add(store, "a");
  await store.close();
  spawnSync("chmod", ["-R", "u+w", c]);
  await rm(c, { recursive: true }); // as if a crash happened between gc's rename and its row delete
  const orphan = join(dir, `${drv("o")}-o-1.0.0`);
  await mkdir(orphan);
  store = await openStore(dir, { recover: false });
  assert.ok(!store.isValid(c));
  const report = await store.recover();
  t.after(() => store.close());
  assert.deepEqual(report.missing, [c]);
  assert.deepEqual(report.removedReferrers, [b]);
  assert.deepEqual(report.unregistered, [orphan]);
  assert.deepEqual(store.listItems().map((i) => i.path), [a]);
  assert.deepEqual((await readdir(dir)).sort(), [".beamix", a.slice(dir.length + 1)]);
});

test("build logs are stored compressed and read back", async (t) => {
  const store = await withStore(t);
  assert.equal(await store.readLog(drv("a")), undefined);
  const text = "==> compiling a\n".repeat(1000);
  const path = await store.writeLog(drv("a"), text);
  assert.equal(path, join(store.dir, ".beamix", "logs", `${drv("a")}.log.gz`));
  assert.ok((await lstat(path)).size < text.length / 10);
  assert.equal(await store.readLog(drv("a")), text);
  async function* lines() {
    yield "line 1\n";
    yield Buffer.from("line 2\n");
  }
  await store.writeLog(drv("a"), lines());
  assert.equal(await store.readLog(drv("a")), "line 1\nline 2\n");
  assert.deepEqual(await readdir(join(store.dir, ".beamix", "tmp")), []);
  assert.throws(() => store.logPath("../../etc/passwd"), /invalid derivation hash/);
});
