// Nothing is lost without a word (issue 12): a directory that is not a store is never treated as
// one, recovery says what it removed, and verify reports what recovery would have removed.
// Stores are set up with the library; what a user sees is checked through the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openStore, type Store } from "../src/store/store.ts";
import { removeTree } from "../src/store/perms.ts";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeItem } from "./support/substitute-cache.ts";

const drv = (label: string) => createHash("sha256").update(label).digest("hex");
const beacon = fileURLToPath(new URL("fixtures/packages/beacon-1.1.0", import.meta.url));

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "beamix-silent-loss-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const env = (dir: string) => ({
  BEAMIX_CACHE_DIR: join(dir, "cache"),
  BEAMIX_DATA_DIR: join(dir, "data"),
  BEAMIX_CONFIG_DIR: join(dir, "config"),
  BEAMIX_STORE: "",
  HEX_MIRROR: "",
  HEX_MIRROR_URL: "",
});

// One line on stderr, `beamix: ...`, and no stack trace.
function assertOneLine(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^beamix: [^\n]*\n$/, r.stderr);
  assert.match(r.stderr, pattern);
}

async function item(store: Store, label: string, refs: Awaited<ReturnType<typeof makeItem>>[] = []) {
  return makeItem(store, drv(label), label, "1.0.0", { [`lib/erlang/lib/${label}-1.0.0/ebin/${label}.app`]: `{application,${label},[]}.\n` }, refs);
}

test("a directory that is not a store is refused, and nothing in it is touched", async (t) => {
  const dir = await scratch(t);
  const photos = join(dir, "pictures");
  await mkdir(join(photos, "20240101120000000-photos"), { recursive: true });
  await writeFile(join(photos, "20240101120000000-photos", "beach.jpg"), "jpeg");
  await writeFile(join(photos, "notes.txt"), "mine");

  for (const args of [["path", beacon], ["gc"], ["verify", "--repair"]]) {
    const r = await beamix([...args, "--store", photos], { env: env(dir) });
    assertOneLine(r, /pictures: not a beamix store \(no \.beamix\/store\) and not empty/);
  }
  assert.deepEqual((await readdir(photos)).sort(), ["20240101120000000-photos", "notes.txt"]);
  assert.equal(await readFile(join(photos, "20240101120000000-photos", "beach.jpg"), "utf8"), "jpeg");

  // A marker that is not one is refused too.
  const odd = join(dir, "odd");
  await mkdir(join(odd, ".beamix"), { recursive: true });
  await writeFile(join(odd, ".beamix", "store"), "my notes\n");
  assertOneLine(await beamix(["gc", "--store", odd], { env: env(dir) }), /not a beamix store \(.*does not start with "beamix store N"\)/);
});

test("a new or empty directory becomes a store with a marker; an earlier beamix's store is accepted and marked", async (t) => {
  const dir = await scratch(t);
  const empty = join(dir, "empty");
  await mkdir(empty);
  for (const store of [empty, join(dir, "new", "store")]) {
    const r = await beamix(["verify", "--store", store], { env: env(dir) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(store, ".beamix", "store"), "utf8"), "beamix store 1\n");
  }

  // A store without a marker but with its database, as earlier versions made them, with an item.
  const legacy = join(dir, "legacy");
  const s = await openStore(legacy);
  const a = await item(s, "a");
  await s.close();
  await rm(join(legacy, ".beamix", "store"));
  const r = await beamix(["verify", "--store", legacy], { env: env(dir) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 items checked, 1 ok/);
  assert.equal(await readFile(join(legacy, ".beamix", "store"), "utf8"), "beamix store 1\n");
  assert.ok((await readdir(legacy)).includes(a.path.slice(legacy.length + 1)));
});

// A store with a row whose directory is gone (and an item referencing it), and a directory with no row.
async function damagedStore(dir: string) {
  const path = join(dir, "store");
  const store = await openStore(path);
  const base = await item(store, "base");
  const user = await item(store, "user", [base]);
  const other = await item(store, "other");
  await store.close();
  await removeTree(base.path);
  const stray = join(path, `${drv("stray")}-stray-1.0.0`);
  await mkdir(join(stray, "lib"), { recursive: true });
  await writeFile(join(stray, "lib", "data"), "left by an interrupted registration");
  await chmod(stray, 0o555);
  return { path, base: base.path, user: user.path, other: other.path, stray };
}

test("verify reports rows without directories and directories without rows, and leaves them for --repair", async (t) => {
  const dir = await scratch(t);
  const s = await damagedStore(dir);
  const r = await beamix(["verify", "--store", s.path], { env: env(dir) });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stdout.includes(`missing: ${s.base}: registered but the directory does not exist`), r.stdout);
  assert.ok(r.stdout.includes(`unregistered: ${s.stray}: a directory with no record in the store database`), r.stdout);
  assert.match(r.stdout, /3 items checked, 2 ok, 2 with problems/);
  assert.equal(r.stderr, "");
  assert.ok((await readdir(s.path)).includes(s.stray.slice(s.path.length + 1)), "verify removed nothing");

  const again = await beamix(["verify", "--store", s.path, "--json"], { env: env(dir) });
  const report = JSON.parse(again.stdout) as { problems: { path: string; problem: string }[] };
  assert.deepEqual(report.problems.map((p) => [p.problem, p.path]).sort(), [["missing", s.base], ["unregistered", s.stray]].sort());
});

test("opening a store says on stderr, one line each, what recovery removed", async (t) => {
  const dir = await scratch(t);
  const s = await damagedStore(dir);
  const r = await beamix(["gc", "--dry-run", "--store", s.path], { env: env(dir) });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trimEnd().split("\n").sort();
  assert.deepEqual(lines, [
    `beamix: forgot ${s.base}: registered, but its directory is gone`,
    `beamix: removed ${s.stray}: a directory the store database has no record of (left by an interrupted registration)`,
    `beamix: removed ${s.user}: an item it references is gone`,
  ].sort());
  assert.deepEqual((await readdir(s.path)).filter((e) => e !== ".beamix"), [s.other.slice(s.path.length + 1)]);

  // Nothing left to say the next time.
  const quiet = await beamix(["gc", "--dry-run", "--store", s.path], { env: env(dir) });
  assert.equal(quiet.stderr, "");
});
