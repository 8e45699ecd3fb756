// Profile wrappers pin the toolchain (issue 16): bin/elixir, bin/mix, … run the toolchain's
// `elixir` script, which runs `erl` from PATH; with another Erlang first on the user's PATH (here
// an erl that fails) they must still run the toolchain's. Through the CLI: install a local Mix
// package, then call the profile's wrappers by absolute path. The manifest records the paths,
// and a later install into the profile with nothing named runs that toolchain again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beamix, runCommand } from "./support/cli.ts";
import { machineEnv } from "./support/machine-env.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";

let work: string;
let system: Toolchain;
let fakePath: string;

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-wrappers-tc-"));
  system = await detectToolchain({ cacheDir: null });
  const fakeBin = join(work, "other erlang", "bin");
  await mkdir(fakeBin, { recursive: true });
  for (const tool of ["erl", "erlexec", "elixir", "mix", "only-the-users"]) {
    await writeFile(join(fakeBin, tool), `#!/bin/sh\necho "the wrong ${tool}" >&2\nexit 1\n`);
    await chmod(join(fakeBin, tool), 0o755);
  }
  fakePath = [fakeBin, ...(process.env.PATH ?? "").split(":")].join(":");
});

test.after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("a profile's wrappers called by path run the toolchain's erl, whatever erl comes first on PATH", async (t) => {
  if (!system.paths.elixir) return t.skip("no Elixir on this machine");
  const proj = join(work, "tiny");
  await mkdir(join(proj, "lib"), { recursive: true });
  await writeFile(join(proj, "mix.exs"), 'defmodule Tiny.MixProject do\n  use Mix.Project\n  def project, do: [app: :tiny, version: "0.1.0", deps: []]\nend\n');
  await writeFile(join(proj, "lib", "tiny.ex"), 'defmodule Tiny do\n  def hello, do: "hello from tiny"\nend\n');
  const profile = join(work, "profile");
  const env = { ...machineEnv(work, "m"), BEAMIX_TOOLCHAIN: "" };
  const r = await beamix(["install", await realpath(proj), "--profile", profile, "--store", join(work, "store"), "--no-substitutes", "--json"], { env, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);

  const userEnv = { ...process.env, PATH: fakePath, ERL_LIBS: "" };
  const run = (tool: string, args: string[]) => runCommand(join(profile, "bin", tool), args, { env: userEnv, cwd: work, timeoutMs: 120_000 });
  const elixir = await run("elixir", ["-e", "IO.puts(Tiny.hello())"]);
  assert.equal(elixir.code, 0, elixir.stderr);
  assert.equal(elixir.stdout, "hello from tiny\n");
  const erl = await run("erl", ["-noshell", "-eval", 'io:format("~s~n", [erlang:system_info(otp_release)]), halt().']);
  assert.equal(erl.stdout, `${system.otpRelease}\n`, erl.stderr);
  const mix = await run("mix", ["--version"]);
  assert.equal(mix.code, 0, mix.stderr);
  assert.match(mix.stdout, new RegExp(`Mix ${system.elixirVersion!.replaceAll(".", "\\.")}`));
  // The user's PATH comes after the toolchain's: a program only it has is still found.
  const found = await run("elixir", ["-e", 'IO.puts(System.find_executable("only-the-users"))']);
  assert.equal(found.stdout, `${join(work, "other erlang", "bin", "only-the-users")}\n`, found.stderr);

  const manifest = JSON.parse(await readFile(join(profile, "manifest.json"), "utf8"));
  assert.equal(manifest.toolchain.elixirVersion, system.elixirVersion);
  assert.deepEqual(manifest.toolchain.paths, { erlRoot: system.paths.erlRoot, elixir: system.paths.elixir, rebar3: system.paths.rebar3, binDirs: system.binDirs });

  // The same request with the same toolchain (here named by a prefix) is no new generation.
  const again = await beamix(["install", await realpath(proj), "--profile", profile, "--store", join(work, "store"), "--no-substitutes", "--json", "--erlang", dirname(dirname(system.paths.erl))], { env, timeoutMs: 300_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).created, false);

  // Nothing named and another Erlang first on PATH: the profile's own toolchain is used again
  // (with the one on PATH, which fails, the package could not even be read).
  const reused = await beamix(["install", await realpath(proj), "--profile", profile, "--store", join(work, "store"), "--no-substitutes", "--json"], { env: { ...env, PATH: fakePath }, timeoutMs: 300_000 });
  assert.equal(reused.code, 0, reused.stderr);
  assert.equal(JSON.parse(reused.stdout).created, false);
  // Named, it wins: with PATH's failing erl, the install fails naming it.
  const named = await beamix(["install", await realpath(proj), "--profile", profile, "--store", join(work, "store"), "--no-substitutes", "--toolchain", join(work, "other erlang")], { env: { ...env, PATH: fakePath }, timeoutMs: 300_000 });
  assert.notEqual(named.code, 0);
  assert.match(named.stderr, /other erlang/);
});
