// A chosen toolchain (issue 16): --toolchain DIR / BEAMIX_TOOLCHAIN and --erlang, --elixir,
// --rebar3, through the CLI. `beamix toolchain show` reports what was chosen and what derivation
// hashes cover; a wrong path is one usage line naming it; and the Elixir VMs beamix starts to read
// a project (`beamix deps`' Mix queries, the config reader, the package reader) are the chosen
// toolchain's even when another `erl` and `elixir` (here ones that fail) come first on PATH.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beamix } from "./support/cli.ts";
import { machineEnv } from "./support/machine-env.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";

let work: string;
let system: Toolchain; // the toolchain on this machine's PATH
let prefix: string; // an install prefix whose bin/ links to it
let fakeBin: string; // erl, elixir, … that fail
let fakePath: string; // fakeBin first, then the system

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-tc-choice-"));
  system = await detectToolchain({ cacheDir: null });
  prefix = join(work, "prefix");
  await mkdir(join(prefix, "bin"), { recursive: true });
  await symlink(system.paths.erl, join(prefix, "bin", "erl"));
  if (system.paths.elixir) await symlink(system.paths.elixir, join(prefix, "bin", "elixir"));
  if (system.paths.rebar3) await symlink(system.paths.rebar3, join(prefix, "bin", "rebar3"));
  fakeBin = join(work, "fake bin");
  await mkdir(fakeBin);
  for (const tool of ["erl", "erlc", "escript", "elixir", "elixirc", "iex", "mix", "rebar3"]) {
    await writeFile(join(fakeBin, tool), `#!/bin/sh\necho "the wrong ${tool}" >&2\nexit 1\n`);
    await chmod(join(fakeBin, tool), 0o755);
  }
  fakePath = [fakeBin, dirname(process.execPath), ...(process.env.PATH ?? "").split(":")].join(":");
});

test.after(async () => {
  await rm(work, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...machineEnv(work, "m"), BEAMIX_TOOLCHAIN: "", ...extra });

test("toolchain show: --toolchain DIR and BEAMIX_TOOLCHAIN name the toolchain, whatever PATH has first", async () => {
  for (const [args, extra, chosenBy] of [
    [["--toolchain", prefix], {}, "--toolchain"],
    [[], { BEAMIX_TOOLCHAIN: prefix }, "BEAMIX_TOOLCHAIN"],
  ] as const) {
    const r = await beamix(["toolchain", "show", "--json", ...args], { env: env({ PATH: fakePath, ...extra }) });
    assert.equal(r.code, 0, r.stderr);
    const shown = JSON.parse(r.stdout);
    assert.equal(shown.chosenBy, chosenBy);
    assert.equal(shown.otpVersion, system.otpVersion);
    assert.equal(shown.elixirVersion, system.elixirVersion);
    assert.equal(shown.paths.erlRoot, system.paths.erlRoot);
    assert.equal(shown.paths.elixir, system.paths.elixir);
    assert.deepEqual(shown.binDirs, system.binDirs);
    // What the hash covers, per build system: never a path.
    assert.equal(shown.hashed.make.otpVersion, system.otpVersion);
    assert.equal(shown.hashed.make.elixirVersion, undefined);
    assert.equal(shown.hashed.mix.elixirVersion, system.elixirVersion);
    assert.equal(shown.hashed.rebar3.rebar3Version, system.rebar3Version);
    assert.ok(!JSON.stringify(shown.hashed).includes("/"));
  }
  // Without a choice, the fake erl first on PATH is what is detected (and fails).
  const r = await beamix(["toolchain", "show"], { env: env({ PATH: fakePath }) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the wrong erl/);
  const text = await beamix(["toolchain", "show", "--toolchain", prefix], { env: env() });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /chosen by +--toolchain/);
  assert.match(text.stdout, /derivation hashes cover/);
});

test("toolchain list: the chosen toolchain, PATH's (here one that fails, named as such), what each hash covers, and the store's", async () => {
  const r = await beamix(["toolchain", "list", "--json", "--toolchain", prefix, "--store", join(work, "no store")], { env: env({ PATH: fakePath }) });
  assert.equal(r.code, 0, r.stderr);
  const listed = JSON.parse(r.stdout) as { toolchains: { sources: string[]; error?: string; paths?: { erlRoot: string }; hashed?: Record<string, Record<string, string>> }[]; store: unknown };
  const chosen = listed.toolchains.find((t) => t.sources.includes("--toolchain"))!;
  assert.equal(chosen.paths!.erlRoot, system.paths.erlRoot);
  assert.equal(chosen.hashed!.mix.elixirVersion, system.elixirVersion);
  assert.equal(chosen.hashed!.rebar3.rebar3Version, system.rebar3Version);
  const onPath = listed.toolchains.find((t) => t.sources.includes("PATH"))!;
  assert.match(onPath.error!, /the wrong erl/);
  assert.equal(listed.store, null, "no store is made by listing");
  const text = await beamix(["toolchain", "list", "--store", join(work, "no store")], { env: env() });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`Erlang/OTP ${system.otpVersion.replaceAll(".", "\\.")} .*\\n +from +PATH`));
  assert.match(text.stdout, /store: none yet/);
});

test("toolchain show: a chosen OTP root is the whole toolchain; --elixir and --rebar3 add the parts", async () => {
  const root = system.paths.erlRoot;
  const bare = JSON.parse((await beamix(["toolchain", "show", "--json", "--toolchain", root], { env: env() })).stdout);
  assert.equal(bare.elixirVersion, null); // not the elixir on PATH
  assert.equal(bare.rebar3Version, null);
  assert.match(bare.hashed.mix.error, /needs Elixir/);
  if (!system.paths.elixir || !system.paths.rebar3) return;
  const r = await beamix(["toolchain", "show", "--json", "--toolchain", root, "--elixir", dirname(dirname(system.paths.elixir)), "--rebar3", system.paths.rebar3], { env: env({ PATH: fakePath }) });
  assert.equal(r.code, 0, r.stderr);
  const parts = JSON.parse(r.stdout);
  assert.equal(parts.elixirVersion, system.elixirVersion);
  assert.equal(parts.rebar3Version, system.rebar3Version);
  assert.equal(parts.chosenBy, "--toolchain, --elixir, --rebar3");
  const erlangOnly = JSON.parse((await beamix(["toolchain", "show", "--json", "--erlang", root], { env: env() })).stdout);
  assert.equal(erlangOnly.elixirVersion, system.elixirVersion); // the rest from PATH
});

test("a toolchain path that is not one is a usage error naming it", async () => {
  const missing = join(work, "no such dir");
  const empty = join(work, "empty");
  await mkdir(empty, { recursive: true });
  const notExec = join(work, "rebar3.txt");
  await writeFile(notExec, "");
  for (const [args, extra, named] of [
    [["toolchain", "show", "--toolchain", missing], {}, missing],
    [["toolchain", "show", "--erlang", empty], {}, empty],
    [["toolchain", "show", "--elixir", empty], {}, empty],
    [["toolchain", "show", "--rebar3", notExec], {}, notExec],
    [["toolchain", "show"], { BEAMIX_TOOLCHAIN: empty }, empty],
    [["build", "--toolchain", missing, "x"], {}, missing],
    [["deps", "--erlang", empty], {}, empty],
    [["hex", "pack", "--toolchain", missing, "."], {}, missing],
  ] as const) {
    const r = await beamix([...args], { env: env(extra) });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.ok(r.stderr.includes(named), r.stderr);
    assert.equal(r.stdout, "");
  }
});

async function tinyProject(dir: string): Promise<string> {
  await mkdir(join(dir, "config"), { recursive: true });
  await mkdir(join(dir, "lib"), { recursive: true });
  await writeFile(join(dir, "mix.exs"), 'defmodule Tiny.MixProject do\n  use Mix.Project\n  def project, do: [app: :tiny, version: "0.1.0", deps: []]\nend\n');
  await writeFile(join(dir, "config", "config.exs"), "import Config\nconfig :tiny, answer: 42\n");
  await writeFile(join(dir, "lib", "tiny.ex"), "defmodule Tiny do\nend\n");
  return realpath(dir);
}

test("deps, the config reader and the package reader run the chosen toolchain, not the elixir first on PATH", async (t) => {
  if (!system.paths.elixir) return t.skip("no Elixir on this machine");
  const proj = await tinyProject(join(work, "tiny"));
  const store = join(work, "store");
  const deps = await beamix(["deps", "--toolchain", prefix, "--store", store, "--no-substitutes"], { cwd: proj, env: env({ PATH: fakePath }) });
  assert.equal(deps.code, 0, deps.stderr);
  assert.doesNotMatch(deps.stderr, /the wrong/);
  // `beamix path` reads the package directory (in the sandbox) and the config file (on the host).
  const path = await beamix(["path", "--json", "--toolchain", prefix, "--store", store, "--config", join(proj, "config", "config.exs"), proj], { env: env({ PATH: fakePath }) });
  assert.doesNotMatch(path.stderr, /the wrong/);
  assert.match(path.stderr, /not in the store yet: tiny 0\.1\.0/);
  assert.equal(JSON.parse(path.stdout)[0].name, "tiny");
});
