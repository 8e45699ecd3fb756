// The writes of a fresh checkout's restore (src/deps/restore-writer.ts): every tree in place with
// the modes and times the full path gives it whatever the umask, and nothing left behind, not
// even the trees already written, when one tree fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTrees, type Entry, type TreeJob } from "../src/deps/restore-writer.ts";

let work: string;
let pack: string;
let packSize: number;
let item: string; // a store item's files: read-only, as the store keeps them

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-restore-writer-"));
  const bytes = Buffer.from("defmodule A do\nend\n#!/bin/sh\necho hi\n{application,a,[]}.\n");
  pack = join(work, "tree.pack");
  packSize = bytes.length;
  await writeFile(pack, bytes);
  item = join(work, "store", "0123-a-1.0.0");
  await mkdir(join(item, "ebin"), { recursive: true });
  await writeFile(join(item, "ebin", "a.beam"), "BEAM".repeat(1000));
  await writeFile(join(item, "ebin", "a.app"), "{application,a,[]}.\n");
  await writeFile(join(item, "ebin", "run"), "#!/bin/sh\n");
  for (const f of ["a.beam", "a.app", "run"]) await chmod(join(item, "ebin", f), f === "run" ? 0o555 : 0o444);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

// deps/APP: the package's own directories and files (one executable, one a link), then the markers.
const depsEntries = (): Entry[] => [
  ["d", "lib", 0o755],
  ["d", "lib/a", 0o755],
  ["d", "priv", 0o755],
  ["f", "lib/a.ex", 0, 19, 0o644],
  ["f", "lib/a-b.ex", 0, 19, 0o644],
  ["f", "lib/a/x.ex", 0, 19, 0o644],
  ["f", "priv/run.sh", 19, 18, 0o755],
  ["l", "priv/link", "run.sh"],
  ["f", "hex_metadata.config", 37, 20, 0o644],
  ["f", ".hex", 0, 0, 0o644],
  ["f", ".fetch", 0, 0, 0o644],
];

// _build/ENV/lib/APP: directories, the item's files copied, a link into deps/, compile.fetch last.
const buildEntries = (): Entry[] => [
  ["d", ".mix", 0o755],
  ["d", "ebin", 0o755],
  ["s", "ebin/a.beam", join(item, "ebin", "a.beam"), 0o644],
  ["s", "ebin/a.app", join(item, "ebin", "a.app"), 0o644],
  ["s", "ebin/run", join(item, "ebin", "run"), 0o755],
  ["l", "priv", "../../../../deps/a/priv"],
  ["f", ".mix/compile.fetch", 0, 0, 0o644],
];

// A package's deps/APP and _build/prod/lib/APP, for each of `copies` packages.
function treesIn(project: string, copies: number): TreeJob[] {
  const trees: TreeJob[] = [];
  for (let i = 0; i < copies; i++) {
    trees.push({ dest: join(project, "deps", `a${i}`), mode: 0o755, pack, packSize, entries: depsEntries(), late: 8, hex: true });
    trees.push({ dest: join(project, "_build", "prod", "lib", `a${i}`), mode: 0o755, pack, packSize, entries: buildEntries(), late: 6, hex: false });
  }
  return trees;
}

async function mode(p: string): Promise<number> {
  return (await lstat(p)).mode & 0o777;
}

test("a tree is written with the full path's modes and times, whatever the umask", async () => {
  const project = join(work, "umask");
  const umask = process.umask(0o077); // deps/ modes must not depend on it; _build's do
  let before: number;
  try {
    before = Math.floor(Date.now() / 1000) * 1000;
    assert.deepEqual(writeTrees(treesIn(project, 1), "copy"), [join(project, "deps", "a0"), join(project, "_build", "prod", "lib", "a0")]);
  } finally {
    process.umask(umask);
  }
  const deps = join(project, "deps", "a0");
  assert.equal(await mode(deps), 0o755);
  assert.equal(await mode(join(deps, "lib", "a")), 0o755);
  assert.equal(await mode(join(deps, "priv", "run.sh")), 0o755);
  assert.equal(await mode(join(deps, "lib", "a.ex")), 0o644);
  assert.equal(await mode(join(deps, ".hex")), 0o600, "a marker under the umask");
  assert.equal(await readFile(join(deps, "priv", "run.sh"), "utf8"), "#!/bin/sh\necho hi\n");
  assert.equal(await readFile(join(deps, "hex_metadata.config"), "utf8"), "{application,a,[]}.\n");
  assert.equal(await readlink(join(deps, "priv", "link")), "run.sh");
  // Hex's one whole-second mtime on the package's files and directories; the markers after it.
  const hexTime = (await lstat(join(deps, "lib"))).mtimeMs;
  assert.ok(hexTime % 1000 === 0 && hexTime >= before);
  for (const p of ["lib/a", "priv", "lib/a.ex", "lib/a-b.ex", "lib/a/x.ex", "priv/run.sh"]) assert.equal((await lstat(join(deps, p))).mtimeMs, hexTime, p);
  assert.ok((await lstat(join(deps, ".fetch"))).mtimeMs >= hexTime);

  const build = join(project, "_build", "prod", "lib", "a0");
  assert.equal(await mode(join(build, "ebin")), 0o700, "a directory of _build under the umask");
  assert.equal(await mode(join(build, "ebin", "a.beam")), 0o644, "a writable copy of the store's file");
  assert.equal(await mode(join(build, "ebin", "run")), 0o755);
  assert.equal(await readFile(join(build, "ebin", "a.beam"), "utf8"), "BEAM".repeat(1000));
  assert.equal((await lstat(join(build, "ebin", "a.beam"))).nlink, 1);
  assert.ok((await lstat(join(build, ".mix", "compile.fetch"))).mtimeMs >= (await lstat(join(deps, ".fetch"))).mtimeMs);
  assert.deepEqual(await readdir(join(project, "deps")), ["a0"], "nothing beside the tree");
});

test("with hard links, _build's files are the store's", async () => {
  const project = join(work, "links");
  assert.ok(writeTrees(treesIn(project, 1), "hardlink"));
  const st = await lstat(join(project, "_build", "prod", "lib", "a0", "ebin", "a.beam"));
  assert.equal(st.ino, (await lstat(join(item, "ebin", "a.beam"))).ino);
});

test("a tree that cannot be written removes every tree written before it", async () => {
  const project = join(work, "failing");
  const trees = treesIn(project, 3);
  const bad = trees[5];
  bad.entries = [...bad.entries.slice(0, 3), ["s", "ebin/gone.beam", join(item, "ebin", "gone.beam"), 0o644], ...bad.entries.slice(3)];
  assert.equal(writeTrees(trees, "copy"), undefined);
  assert.deepEqual(await readdir(join(project, "deps")), []);
  assert.deepEqual(await readdir(join(project, "_build", "prod", "lib")), []);
});
