// Packing quirks seen on real packages, through the project readers `beamix hex pack` uses (run
// in the reader sandbox): erlang.mk git dependencies published as Hex requirements, a
// rebar.config.script evaluated as rebar3 evaluates it, and a `{vsn, "git"}` refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readPackageDir } from "../src/project/package-dir.ts";
import { fixturePackagesDir } from "./support/fixture-registry.ts";
import { shapesDir } from "./support/shapes-registry.ts";

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-pack-quirks-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

// A copy of a fixture with one file's text changed.
async function variant(from: string, name: string, file: string, edit: (text: string) => string): Promise<string> {
  const dir = join(work, name);
  await cp(from, dir, { recursive: true });
  await writeFile(join(dir, file), edit(await readFile(join(dir, file), "utf8")));
  return dir;
}

const wireserve = join(fixturePackagesDir, "wireserve-1.0.0");

test("an erlang.mk git dependency is published as a requirement on its tag, or on hex_req_NAME", async () => {
  const tagged = await variant(wireserve, "git-tag", "Makefile", (t) => t.replace("dep_wirecodec = hex 1.0.0", "dep_wirecodec = git https://example.invalid/wirecodec 1.0.0"));
  const a = await readPackageDir(tagged);
  assert.deepEqual(a.metadata.requirements.map((r) => [r.name, r.app, r.requirement]), [["wirecodec", "wirecodec", "1.0.0"]]);

  const ranged = await variant(wireserve, "git-req", "Makefile", (t) =>
    t.replace("dep_wirecodec = hex 1.0.0", "dep_wirecodec = git https://example.invalid/wirecodec 1.0.0\nhex_req_wirecodec = >= 1.0.0 and < 2.0.0"),
  );
  const b = await readPackageDir(ranged);
  assert.deepEqual(b.metadata.requirements.map((r) => r.requirement), [">= 1.0.0 and < 2.0.0"]);
});

test("an erlang.mk git dependency on a branch is refused in one line naming hex_req", async () => {
  const branch = await variant(wireserve, "git-branch", "Makefile", (t) => t.replace("dep_wirecodec = hex 1.0.0", "dep_wirecodec = git https://example.invalid/wirecodec master"));
  await assert.rejects(readPackageDir(branch), (err: Error) => {
    assert.match(err.message, /Makefile: dependency wirecodec is fetched with git at "master", which is not a Hex requirement; set hex_req_wirecodec$/);
    return true;
  });
});

test("rebar.config.script is evaluated as rebar3 does: a dependency it adds is a requirement", async () => {
  const dir = await variant(join(shapesDir, "rotnif-0.1.0"), "script-dep", "rebar.config.script", (t) => t.replace("        CONFIG\nend.", "        CONFIG\nend ++ [{deps, [{cport, \"~> 0.1\"}]}]."));
  await writeFile(join(dir, "rebar.config"), "{erl_opts, [debug_info]}.\n");
  const read = await readPackageDir(dir);
  assert.equal(read.buildTool, "rebar3");
  assert.deepEqual(read.metadata.requirements.map((r) => [r.name, r.requirement]), [["cport", "~> 0.1"]]);
  assert.ok(read.metadata.files.includes("rebar.config.script"));
});

test("a script that does not evaluate is refused in one line naming it", async () => {
  const dir = await variant(join(shapesDir, "rotnif-0.1.0"), "script-bad", "rebar.config.script", () => "case nope of\n");
  await assert.rejects(readPackageDir(dir), /rebar\.config\.script: .*syntax error/);
});

test('{vsn, "git"} is refused, not packed as version "git"', async () => {
  const dir = await variant(join(shapesDir, "nifxor-0.1.0"), "vsn-git", "src/nifxor.app.src", (t) => t.replace('{vsn, "0.1.0"}', '{vsn, "git"}'));
  await assert.rejects(readPackageDir(dir), /nifxor\.app\.src: vsn "git" is not a version \(rebar3 computes it from git tags at build time\)/);
});

test("a mix.exs that says another version than rebar.config's .app.src is refused as stale", async () => {
  const dir = await variant(join(shapesDir, "multitool-0.1.0"), "stale-mix", "src/multitool.app.src", (t) => t.replace('{vsn, "0.1.0"}', '{vsn, "0.2.0"}'));
  await assert.rejects(readPackageDir(dir), /stale-mix: mix\.exs says version 0\.1\.0, but rebar\.config's src\/multitool\.app\.src says 0\.2\.0; one of them is stale: make them agree$/);
  // When they agree, the mix.exs is read, as before.
  const same = await readPackageDir(join(shapesDir, "multitool-0.1.0"));
  assert.equal(same.buildTool, "mix");
  assert.deepEqual(same.metadata.buildTools, ["mix", "rebar3", "make"]);
});

test("an erlang.mk project lists build_tools make and rebar3, and its git dependency as a Hex requirement", async () => {
  const read = await readPackageDir(join(shapesDir, "squarefmt-0.1.0"));
  assert.equal(read.buildTool, "make");
  assert.deepEqual(read.metadata.buildTools, ["make", "rebar3"]);
  assert.deepEqual(read.metadata.requirements.map((r) => [r.name, r.requirement]), [["multitool", "~> 0.1"]]);
  assert.ok(read.metadata.files.includes("erlang.mk"));
  // A hand-written Makefile without erlang.mk or rebar.config stays make only.
  assert.deepEqual((await readPackageDir(wireserve)).metadata.buildTools, ["make"]);
  const withMk = await variant(wireserve, "with-erlang-mk", "Makefile", (t) => t);
  await writeFile(join(withMk, "erlang.mk"), "# stand-in\n");
  assert.deepEqual((await readPackageDir(withMk)).metadata.buildTools, ["make", "rebar3"]);
});
