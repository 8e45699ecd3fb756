// mix.lock that cannot be a lock (issue 12): a directory, a link to nothing, nesting 100,000
// deep. Each is one line naming the file, from the reader and from `beamix deps`, where they
// used to be a stack trace, a silently empty lock and a RangeError. Hostile sizes are read in
// linear time.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { MAX_DEPTH } from "../src/erlang/parse.ts";
import { parseMixLock, readMixLockFile } from "../src/mix/lock.ts";
import { beamix } from "./support/cli.ts";

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-mix-lock-errors-"));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const deep = (n: number, open: string, close: string) => `%{"a": ${open.repeat(n)}1${close.repeat(n)}}\n`;

// A project directory holding only mix.exs and what `lock` makes of mix.lock.
async function project(name: string, lock: (path: string) => Promise<unknown>): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "mix.exs"), `defmodule P.MixProject do\n  use Mix.Project\n  def project, do: [app: :p, version: "0.1.0", deps: []]\nend\n`);
  await lock(join(dir, "mix.lock"));
  return dir;
}

async function refuses(path: string, message: string | RegExp): Promise<void> {
  await assert.rejects(readMixLockFile(path), (e: unknown) => {
    assert.ok(e instanceof BeamixError, `not a BeamixError: ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

test("a directory, a link to nothing or a link loop is an error naming the lock", async () => {
  const dir = await project("dir", (p) => mkdir(p));
  await refuses(join(dir, "mix.lock"), `${join(dir, "mix.lock")}: a directory, not a lock file`);
  const dangling = await project("dangling", (p) => symlink("gone.lock", p));
  await refuses(join(dangling, "mix.lock"), `${join(dangling, "mix.lock")}: a symbolic link to gone.lock, which does not exist`);
  const loop = await project("loop", (p) => symlink("mix.lock", p));
  await refuses(join(loop, "mix.lock"), `cannot read ${join(loop, "mix.lock")}: ELOOP`);
  // A lock that is not there at all is an empty lock, as for Mix.
  assert.equal((await readMixLockFile(join(work, "nothing", "mix.lock"))).size, 0);
});

test("nesting 100,000 deep is refused by the depth limit, not a stack overflow", async () => {
  for (const [open, close] of [["[", "]"], ["{", "}"], ["%{a: ", "}"], ["%{", " => 1}"], ["[a: ", "]"]]) {
    assert.throws(
      () => parseMixLock(deep(100_000, open, close), "p/mix.lock"),
      (e: unknown) => e instanceof BeamixError && /^p\/mix\.lock:1:\d+: terms nested more than 1000 levels deep$/.test(e.message),
      open,
    );
  }
  assert.equal(parseMixLock(deep(MAX_DEPTH - 1, "[", "]")).size, 1);
  const dir = await project("deep", (p) => writeFile(p, deep(100_000, "{", "}")));
  await refuses(join(dir, "mix.lock"), new RegExp(`^${join(dir, "mix.lock")}:1:\\d+: terms nested more than`));
});

test("large locks read in linear time: many entries, long strings, long numbers", () => {
  const n = 40_000;
  const entries = Array.from({ length: n }, (_, i) => `  "app_${i}": {:hex, :app_${i}, "1.0.${i}", "${"a".repeat(64)}", [:mix], [], "hexpm", "${"b".repeat(64)}"},\n`);
  assert.equal(parseMixLock(`%{\n${entries.join("")}}\n`).size, n);
  assert.throws(() => parseMixLock(`%{"a": 1, "b": 2, "a": 3}`), /1:19: duplicate key in map/);
  const long = parseMixLock(`%{"a": {:other, <<"${"x".repeat(300_000)}">>, ${"9".repeat(300_000)}}}`);
  assert.equal(long.get("a")!.kind, "other");
});

test("beamix deps says which mix.lock is wrong, in one line", async () => {
  const env = { BEAMIX_CONFIG_DIR: join(work, "config"), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "http://127.0.0.1:9" };
  const cases: [string, (p: string) => Promise<unknown>, RegExp][] = [
    ["cli-dir", (p) => mkdir(p), /: a directory, not a lock file$/],
    ["cli-dangling", (p) => symlink("gone.lock", p), /: a symbolic link to gone\.lock, which does not exist$/],
    ["cli-deep", (p) => writeFile(p, deep(100_000, "[", "]")), /:1:\d+: terms nested more than 1000 levels deep$/],
  ];
  for (const [name, lock, message] of cases) {
    const dir = await project(name, lock);
    const r = await beamix(["deps", "--no-substitutes"], { cwd: dir, env });
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.equal(r.stderr.split("\n").filter((l) => l !== "").length, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr.trim(), new RegExp(`^beamix: ${join(dir, "mix.lock").replace(/[.]/g, "\\.")}`));
    assert.match(r.stderr.trim(), message);
  }
});
