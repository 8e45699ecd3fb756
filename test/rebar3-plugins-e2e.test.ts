// rebar3 plugins as build-only inputs, through the CLI on the shapes corpus served on loopback:
// nifxor names the cport plugin in rebar.config, rotnif only in rebar.config.script. Both build
// with automatic definitions and no network, their NIFs load from the store, and the plugin is
// neither a reference of their items nor a member of a profile, nor of `beamix deps` output.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import type { FixtureRegistry } from "./support/fixture-registry.ts";
import { makeShapesRegistry } from "./support/shapes-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { openStore } from "../src/store/store.ts";
import { appLibDir } from "../src/store/item-layout.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-plugins-e2e-"));
  registry = await makeShapesRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const store = () => join(work, "store");
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ERL_LIBS: "" });
const repoArgs = () => ["--store", store(), "--repo", server.url, "--public-key", registry.publicKeyPath];
const bx = (args: string[]): Promise<CliResult> => beamix(args, { env: env(), timeoutMs: 300_000 });

async function erlEval(libs: string, expr: string): Promise<string> {
  const r = await runCommand("erl", ["-noshell", "-eval", `io:format("~p", [${expr}]), halt().`], { env: { ...process.env, ERL_LIBS: libs }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test("a NIF whose rebar.config names a plugin builds with it, and the plugin is only a build input", async () => {
  const r = await bx(["build", "nifxor", ...repoArgs()]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  // The plugin and its own dependency are built first, as build-only inputs.
  assert.match(r.stderr + r.stdout, /built cport 0\.1\.0/);
  assert.match(r.stderr + r.stdout, /built portcmd 0\.1\.0/);
  assert.match(r.stdout + r.stderr, /3 built/);
  const item = r.stdout.trim().split("\n").find((l) => l.endsWith("-nifxor-0.1.0"))!;
  assert.ok(item, r.stdout);
  assert.equal(await erlEval(join(item, "lib", "erlang", "lib"), "nifxor:xor_bytes(<<1,2,255>>, <<3,2,15>>)"), "<<2,0,240>>");
  assert.deepEqual((await readdir(appLibDir(item, "nifxor", "0.1.0"))).sort(), ["ebin", "priv"]);
  const log = await bx(["log", "nifxor", ...repoArgs()]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /^beamix: inputs: none$/m);
  assert.match(log.stdout, /^beamix: build inputs: portcmd-0\.1\.0 \(transitive\), cport-0\.1\.0$/m);
  assert.match(log.stdout, /===> cport: .*nifxor\.so/);

  const s = await openStore(store());
  try {
    assert.deepEqual(s.references(item), []);
    const deriver = s.queryItem(item)!.deriver as { derivation: { buildInputs?: Record<string, string>; definition: { buildInputs?: { name: string }[] } } };
    assert.deepEqual(deriver.derivation.definition.buildInputs?.map((i) => i.name), ["cport"]);
    assert.deepEqual(Object.keys(deriver.derivation.buildInputs ?? {}), ["cport"]);
  } finally {
    s.close();
  }
});

test("a plugin named only in rebar.config.script is found by evaluating the script", async () => {
  const r = await bx(["build", "rotnif", ...repoArgs()]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout + r.stderr, /1 built, 2 already present/);
  const item = r.stdout.trim().split("\n").find((l) => l.endsWith("-rotnif-0.1.0"))!;
  assert.equal(await erlEval(join(item, "lib", "erlang", "lib"), "rotnif:rot13(<<\"Hello, beamix\">>)"), '<<"Uryyb, ornzvk">>');
  // The script's answer is kept (by inner checksum and OTP), so later plans start no VM for it.
  const kept = await readdir(join(work, "cache", "rebar3-plugins"));
  assert.equal(kept.length, 1);
  assert.deepEqual(JSON.parse(await readFile(join(work, "cache", "rebar3-plugins", kept[0]), "utf8")), { hex: [{ name: "cport", app: "cport", requirement: ">= 0.0.0" }], other: [] });
  const again = await bx(["build", "rotnif", ...repoArgs()]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout + again.stderr, /0 built, 3 already present/);
});

test("installing a package built with a plugin puts only the package in the profile", async () => {
  const profile = join(work, "profiles", "nif");
  const r = await bx(["install", "nifxor", "rotnif", "--profile", profile, ...repoArgs(), "--json"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.changes.map((c: { name: string; to: string }) => `${c.name} ${c.to}`), ["nifxor 0.1.0", "rotnif 0.1.0"]);
  assert.deepEqual((await readdir(join(profile, "lib", "erlang", "lib"))).sort(), ["nifxor-0.1.0", "rotnif-0.1.0"]);
  const out = await runCommand(join(profile, "bin", "erl"), ["-noshell", "-eval", 'io:format("~p ~p ~p", [rotnif:rot13(<<"abc">>), code:which(cport), code:which(portcmd)]), halt().'], {
    env: { ...process.env, ERL_LIBS: "" },
    timeoutMs: 60_000,
  });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, '<<"nop">> non_existing non_existing');
});

test("beamix deps builds a dependency with its plugin, and writes out only the dependency", async () => {
  const project = join(work, "nifuser");
  await mkdir(join(project, "lib"), { recursive: true });
  await writeFile(
    join(project, "mix.exs"),
    'defmodule Nifuser.MixProject do\n  use Mix.Project\n  def project, do: [app: :nifuser, version: "0.1.0", deps: [{:nifxor, "~> 0.1"}]]\nend\n',
  );
  await writeFile(join(project, "lib", "nifuser.ex"), "defmodule Nifuser do\n  def mask(a, b), do: :nifxor.xor_bytes(a, b)\nend\n");
  const lockEnv = { ...env(), HEX_MIRROR: server.url, BEAMIX_HEX_PUBLIC_KEY: registry.publicKeyPath, HEX_HOME: join(work, "hex-home"), BEAMIX_CONFIG_DIR: join(work, "config"), MIX_ENV: "" };
  const lock = await beamix(["lock", project], { env: lockEnv, timeoutMs: 300_000 });
  assert.equal(lock.code, 0, `${lock.stdout}\n${lock.stderr}`);
  const r = await beamix(["deps", project, "--json", ...repoArgs()], { env: { ...env(), MIX_ENV: "" }, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const json = JSON.parse(r.stdout) as { packages: { name: string; status: string }[] };
  assert.deepEqual(json.packages.map((p) => p.name), ["nifxor"]);
  assert.deepEqual(await readdir(join(project, "deps")), ["nifxor"]);
  assert.deepEqual((await readdir(join(project, "_build", "dev", "lib"))).filter((d) => !d.startsWith(".")), ["nifxor"]);
  await stat(join(project, "_build", "dev", "lib", "nifxor", "priv", "nifxor.so"));
  assert.equal(await erlEval(join(project, "_build", "dev", "lib"), "nifxor:xor_bytes(<<7>>, <<5>>)"), "<<2>>");
});

test("a build input a definition file adds is resolved without being named on the command line", async () => {
  const defs = join(work, "defs");
  await mkdir(defs, { recursive: true });
  await writeFile(join(defs, "squarefmt.mjs"), 'export default (auto) => ({ ...auto, buildInputs: ["cport"] });\n');
  const r = await bx(["build", "squarefmt", "-L", defs, ...repoArgs()]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const item = r.stdout.trim().split("\n").find((l) => l.endsWith("-squarefmt-0.1.0"))!;
  assert.ok(item, r.stdout);
  const s = await openStore(store());
  try {
    assert.deepEqual(s.references(item).map((ref) => ref.replace(/^.*-(\w+-[0-9.]+)$/, "$1")), ["multitool-0.1.0"]);
    const deriver = s.queryItem(item)!.deriver as { derivation: { buildInputs?: Record<string, string> } };
    assert.deepEqual(Object.keys(deriver.derivation.buildInputs ?? {}), ["cport"]);
  } finally {
    s.close();
  }
});

test("beamix import hex writes the plugins as buildInputs, so the imported definition builds the same item", async () => {
  const defs = join(work, "imported");
  const imp = await beamix(["import", "hex", "nifxor", "-o", defs, "--repo", server.url, "--public-key", registry.publicKeyPath], { env: env(), timeoutMs: 300_000 });
  assert.equal(imp.code, 0, `${imp.stdout}\n${imp.stderr}`);
  assert.match(await readFile(join(defs, "nifxor.ts"), "utf8"), /^  buildInputs: \[\{ name: "cport", app: "cport", optional: false, repo: "hexpm" \}\], \/\/ rebar3 plugins: build-only$/m);
  const plain = await bx(["path", "nifxor", ...repoArgs()]);
  const viaImport = await bx(["path", "nifxor", "-L", defs, ...repoArgs()]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(viaImport.stdout, plain.stdout, viaImport.stderr);
});
