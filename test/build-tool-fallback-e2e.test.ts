// A release whose build_tools name several tools (proper: mix, rebar3, make): beamix builds it
// with Mix's choice first and, when that build fails, with the next declared tool, saying so in
// one line; the next run finds the item the fallback built. Through the CLI on the shapes corpus.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import type { FixtureRegistry } from "./support/fixture-registry.ts";
import { makeShapesRegistry } from "./support/shapes-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-fallback-e2e-"));
  registry = await makeShapesRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ERL_LIBS: "" });
const bx = (args: string[]): Promise<CliResult> =>
  beamix([...args, "--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath], { env: env(), timeoutMs: 300_000 });

test("when Mix's choice fails, the next tool of build_tools builds it, and the switch is one line", async () => {
  const r = await bx(["build", "multitool"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const said = (r.stdout + r.stderr).split("\n").filter((l) => l.includes("which its build_tools also name"));
  assert.equal(said.length, 1, r.stderr);
  assert.match(said[0], /^multitool 0\.1\.0: the mix build failed \(build phase of multitool 0\.1\.0 failed: .*can't find include file "multitool_table\.hrl"\); building with rebar3/);
  assert.match(r.stdout + r.stderr, /1 built, 0 already present, 0 failed/);
  const item = r.stdout.trim().split("\n").find((l) => l.endsWith("-multitool-0.1.0"))!;
  const erl = await runCommand("erl", ["-noshell", "-eval", 'io:format("~p", [multitool:square(7)]), halt().'], { env: { ...process.env, ERL_LIBS: join(item, "lib", "erlang", "lib") }, timeoutMs: 60_000 });
  assert.equal(erl.stdout, "49", erl.stderr);

  // Nothing is built again: the item rebar3 built is the package's.
  const again = await bx(["build", "multitool"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout + again.stderr, /0 built, 1 already present, 0 failed/);
  assert.doesNotMatch(again.stdout + again.stderr, /build failed/);
  assert.ok(again.stdout.includes(item));
});

test("an erlang.mk package with a git dependency builds against that dependency from the registry", async () => {
  const r = await bx(["build", "squarefmt"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const item = r.stdout.trim().split("\n").find((l) => l.endsWith("-squarefmt-0.1.0"));
  assert.ok(item, r.stdout);
  // Its input, built from the registry as the requirement erlang.mk published for the git dependency.
  const store = join(work, "store");
  const libs = (await readdir(store)).filter((n) => /^[0-9a-f]{64}-(squarefmt|multitool)-0\.1\.0$/.test(n)).map((n) => join(store, n, "lib", "erlang", "lib"));
  assert.equal(libs.length, 2);
  const erl = await runCommand("erl", ["-noshell", "-eval", 'io:format("~s", [squarefmt:format(9)]), halt().'], {
    env: { ...process.env, ERL_LIBS: libs.join(":") },
    timeoutMs: 60_000,
  });
  assert.equal(erl.stdout, "9^2 = 81", erl.stderr);
});
