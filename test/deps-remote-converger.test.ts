// A Hex package whose own rebar.config names its dependency as a git repository (as cowboy's
// names cowlib and ranch), while its Hex release and mix.lock name a Hex package. The real Hex
// gives a Hex dependency its children from mix.lock (its remote converger), so Mix never reads
// that rebar.config; the lock-checking stand-in must do the same, or Mix fails "the dependency
// is not available" where the real Hex works. End to end: beamix deps, then the unmodified
// `mix compile` with the stand-in compiles only the project.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, runCommand } from "./support/cli.ts";
import { fixturePackageDirs, type FixtureRegistry, makeRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { buildTarball } from "../src/hex/tarball.ts";
import { buildRegistry } from "../src/hex/registry/build.ts";
import { formatMixLock } from "../src/mix/lock.ts";
import { lockForRequirements } from "../src/mix/lock-from-resolution.ts";
import { cleanEnv } from "../bench/mix-baseline.ts";
import { LOCK_STANDIN } from "../bench/deps-bench.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

const text = (s: string) => Buffer.from(s);

// relay 1.0.0: a rebar3 package that calls beacon; beacon is a git dependency in its rebar.config
// and a Hex requirement in its release's metadata.
function relayTarball(): Buffer {
  const files = [
    { path: "rebar.config", mode: 0o644, data: text(`{deps, [{beacon, {git, "https://example.invalid/beacon.git", {tag, "1.2.0"}}}]}.\n`) },
    { path: "src/relay.app.src", mode: 0o644, data: text(`{application, relay, [{description, "Relays beacon events"}, {vsn, "1.0.0"}, {applications, [kernel, stdlib, beacon]}, {env, []}]}.\n`) },
    { path: "src/relay.erl", mode: 0o644, data: text(`-module(relay).\n-export([beacon_module/0]).\n\nbeacon_module() -> beacon:module_info(module).\n`) },
  ];
  return buildTarball({
    metadata: {
      name: "relay",
      version: "1.0.0",
      app: "relay",
      description: "Relays beacon events",
      files: files.map((f) => f.path),
      licenses: ["Apache-2.0"],
      buildTools: ["rebar3"],
      requirements: [{ name: "beacon", app: "beacon", requirement: "~> 1.2", optional: false, repository: "hexpm" }],
      links: [],
      other: [],
    },
    files,
  }).tarball;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-remote-converger-"));
  const dir = join(work, "repo");
  registry = await makeRegistry(dir, (await fixturePackageDirs()).filter((d) => /beacon-1\.2\.0$/.test(d)));
  await writeFile(join(dir, "tarballs", "relay-1.0.0.tar"), relayTarball());
  await buildRegistry({ dir, name: "hexpm", privateKeyPem: registry.privateKeyPem });
  server = await startStaticServer({ root: dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

test("a Hex dependency's children come from mix.lock, not from its own rebar.config's git deps", async () => {
  const project = join(work, "relay_app");
  await mkdir(join(project, "lib"), { recursive: true });
  await writeFile(
    join(project, "mix.exs"),
    `defmodule RelayApp.MixProject do
  use Mix.Project

  def project, do: [app: :relay_app, version: "0.1.0", deps: [{:relay, "~> 1.0"}]]
end
`,
  );
  await writeFile(join(project, "lib", "relay_app.ex"), "defmodule RelayApp do\n  def beacon, do: :relay.beacon_module()\nend\n");
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  await writeFile(join(project, "mix.lock"), formatMixLock(await lockForRequirements(repo, [{ name: "relay", requirement: "~> 1.0" }])));

  const env = { BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_CONFIG_DIR: join(work, "config"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "" };
  const d = await beamix(["deps", project, "--env", "dev", "--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath], { env, timeoutMs: 600_000 });
  assert.equal(d.code, 0, d.stdout + d.stderr);

  const home = await mkdtemp(join(work, "home-"));
  const mixEnv = cleanEnv({ HOME: home, MIX_HOME: join(home, "mix"), HEX_HOME: join(home, "hex"), MIX_ENV: "dev", LANG: "C.UTF-8" });
  const compile = await runCommand("elixir", ["-r", LOCK_STANDIN, "-S", "mix", "compile"], { cwd: project, env: mixEnv, timeoutMs: 600_000 });
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assert.doesNotMatch(compile.stdout + compile.stderr, /==> (relay|beacon)\b|not available|git/);
  assert.match(compile.stdout, /Generated relay_app app/);
  const run = await runCommand("elixir", ["-r", LOCK_STANDIN, "-S", "mix", "run", "-e", "IO.inspect(RelayApp.beacon())"], { cwd: project, env: mixEnv, timeoutMs: 600_000 });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^:beacon$/m);
});
