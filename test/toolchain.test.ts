import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import childProcess, { execFileSync } from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir, arch } from "node:os";
import { dirname, join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { describeToolchain, detectToolchain } from "../src/toolchain/detect.ts";
import { readEscriptEntry, zipEntry } from "../src/toolchain/escript.ts";
import { startEarlyErl, takeEarlyErl } from "../src/toolchain/early-erl.ts";
import { startDepsToolchainProbe } from "../src/cli/early-toolchain.ts";

let tmp: string;
before(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-toolchain-")));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

// An escript made by the real Erlang, with the given files in its archive.
function makeEscript(path: string, files: Record<string, string>): void {
  const entries = Object.entries(files)
    .map(([n, c]) => `{"${n}", <<"${c.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}">>}`)
    .join(",");
  const expr = `ok = escript:create("${path}", [shebang, {comment, "made by a test"}, {emu_args, "+sbtu +A1"}, {archive, [${entries}], []}]), halt().`;
  execFileSync("erl", ["-noshell", "-eval", expr]);
  chmodSync(path, 0o755);
}

function writeExecutable(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode: 0o755 });
}

// A fake OTP + Elixir + rebar3 installation whose erl counts how often it runs.
function fakeToolchain(name: string) {
  const root = join(tmp, name);
  const otp = join(root, "otp");
  const counter = join(root, "erl-runs");
  writeExecutable(
    join(otp, "bin", "erl"),
    `#!/bin/sh\necho run >> '${counter}'\nprintf '26\\n14.1\\n2.17\\naarch64-unknown-linux-gnu\\n%s\\n8\\n' '${otp}'\n`,
  );
  mkdirSync(join(otp, "releases", "26"), { recursive: true });
  writeFileSync(join(otp, "releases", "26", "OTP_VERSION"), "26.1.2\n");
  mkdirSync(join(otp, "erts-14.1", "include"), { recursive: true });
  writeFileSync(join(otp, "erts-14.1", "include", "erl_nif.h"), "/* fake */\n");
  const elixirRoot = join(root, "elixir");
  writeExecutable(join(elixirRoot, "bin", "elixir"), "#!/bin/sh\nexit 1\n");
  writeExecutable(join(elixirRoot, "bin", "mix"), "#!/bin/sh\nexit 1\n");
  mkdirSync(join(elixirRoot, "lib", "elixir", "ebin"), { recursive: true });
  writeFileSync(join(elixirRoot, "lib", "elixir", "ebin", "elixir.app"), '{application,elixir,\n    [{description,"elixir"},\n     {vsn,"1.99.0"},\n     {modules,[]}]}.\n');
  const rebar3 = join(root, "tools", "rebar3");
  mkdirSync(dirname(rebar3), { recursive: true });
  makeEscript(rebar3, { "rebar/ebin/rebar.app": '{application,rebar,[{description,"Rebar"},{vsn,"3.99.1"}]}.\n' });
  const runs = () => (existsSync(counter) ? readFileSync(counter, "utf8").split("\n").filter(Boolean).length : 0);
  return { root, otp, elixirRoot, rebar3, runs };
}

test("escript archives: entries read back byte for byte, stored or deflated", async () => {
  const big = "all work and no play ".repeat(500); // deflated by zip:create
  const path = join(tmp, "e.escript");
  makeEscript(path, { "a/ebin/a.app": '{application,a,[{vsn,"1.2.3"}]}.', "b/big.txt": big });
  assert.equal((await readEscriptEntry(path, "a/ebin/a.app"))?.toString(), '{application,a,[{vsn,"1.2.3"}]}.');
  assert.equal((await readEscriptEntry(path, "b/big.txt"))?.toString(), big);
  assert.ok(statSync(path).size < big.length, "the archive is compressed");
  assert.equal(await readEscriptEntry(path, "missing"), undefined);
  // not an escript at all
  writeFileSync(join(tmp, "plain"), "#!/bin/sh\necho hi\n");
  assert.equal(await readEscriptEntry(join(tmp, "plain"), "x"), undefined);
  assert.throws(() => zipEntry(Buffer.from("no zip here"), "x"), /no zip archive/);
  // the real rebar3 escript
  const realRebar3 = execFileSync("sh", ["-c", "command -v rebar3"], { encoding: "utf8" }).trim();
  const app = await readEscriptEntry(realpathSync(realRebar3), "rebar/ebin/rebar.app");
  assert.match(app!.toString(), /\{application,rebar,/);
});

test("detects the installed toolchain, agreeing with independent sources", async (t) => {
  const t0 = performance.now();
  const tc = await detectToolchain({ cacheDir: null });
  t.diagnostic(`cold detection, no cache: ${(performance.now() - t0).toFixed(0)} ms: ${describeToolchain(tc)}`);

  // OTP: the OTP_VERSION file, the erts directory, erl_nif.h's version macros
  assert.match(tc.otpRelease, /^\d+$/);
  assert.ok(tc.otpVersion.startsWith(`${tc.otpRelease}.`) || tc.otpVersion === tc.otpRelease);
  assert.ok(existsSync(join(tc.paths.erlRoot, `erts-${tc.ertsVersion}`)));
  assert.deepEqual(readdirSync(tc.paths.erlRoot).filter((e) => e.startsWith("erts-")), [`erts-${tc.ertsVersion}`]);
  const nifH = readFileSync(join(tc.paths.ertsInclude!, "erl_nif.h"), "utf8");
  const major = /#define ERL_NIF_MAJOR_VERSION (\d+)/.exec(nifH)![1];
  const minor = /#define ERL_NIF_MINOR_VERSION (\d+)/.exec(nifH)![1];
  assert.equal(tc.nifVersion, `${major}.${minor}`);
  assert.equal(tc.targetTriple.split("-")[0], { x64: "x86_64", arm64: "aarch64" }[arch() as string] ?? tc.targetTriple.split("-")[0]);
  assert.equal(tc.wordSize, 8);

  // Elixir: the version its launcher script prints without starting a VM
  assert.equal(tc.elixirVersion, execFileSync("elixir", ["--short-version"], { encoding: "utf8" }).trim());
  // rebar3: what running it says
  const rebarOut = execFileSync("rebar3", ["version"], { encoding: "utf8" });
  assert.equal(tc.rebar3Version, /^rebar (\S+)/.exec(rebarOut)![1]);

  for (const p of [tc.paths.erl, tc.paths.erlc, tc.paths.escript, tc.paths.elixir!, tc.paths.mix!, tc.paths.rebar3!]) {
    assert.ok(statSync(p).isFile(), p);
  }
  assert.ok(tc.binDirs.includes(dirname(tc.paths.erl)));
  assert.ok(tc.binDirs.includes(dirname(tc.paths.elixir!)));
  for (const b of tc.readOnlyBinds) assert.ok(b.startsWith("/") && existsSync(b), b);
  for (const b of tc.readOnlyBinds) assert.ok(!tc.readOnlyBinds.some((o) => o !== b && b.startsWith(o + "/")), `${b} is nested`);
  for (const p of [tc.paths.erlRoot, tc.paths.elixirRoot!, tc.paths.rebar3!]) {
    assert.ok(tc.readOnlyBinds.some((b) => p === b || p.startsWith(b + "/")), `${p} is bound`);
  }
});

test("the cache makes repeated detection start no process", async (t) => {
  const cacheDir = join(tmp, "cache-real");
  let t0 = performance.now();
  const cold = await detectToolchain({ cacheDir });
  const coldMs = performance.now() - t0;
  // Every way detection could start a program, counted (named imports see the change once
  // the builtin's exports are synced).
  const started: string[] = [];
  const originals = { execFile: childProcess.execFile, spawn: childProcess.spawn, execFileSync: childProcess.execFileSync, spawnSync: childProcess.spawnSync };
  for (const name of Object.keys(originals) as (keyof typeof originals)[]) {
    const original = originals[name] as (...args: unknown[]) => unknown;
    (childProcess as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      started.push(`${name} ${String(args[0])}`);
      return original(...args);
    };
  }
  syncBuiltinESMExports();
  let warm;
  t0 = performance.now();
  try {
    warm = await detectToolchain({ cacheDir });
  } finally {
    Object.assign(childProcess, originals);
    syncBuiltinESMExports();
  }
  const warmMs = performance.now() - t0;
  t.diagnostic(`detectToolchain cold ${coldMs.toFixed(1)} ms, warm ${warmMs.toFixed(1)} ms`);
  assert.deepEqual(warm, cold);
  assert.deepEqual(started, [], "the warm detection answered from the cache");
  assert.ok(existsSync(join(cacheDir, "toolchains.json")));
});

test("a named toolchain: facts from its erl, versions from its files, cache invalidated by changes", async () => {
  const f = fakeToolchain("named");
  const cacheDir = join(f.root, "cache");
  const opts = { erlRoot: f.otp, elixirBin: join(f.elixirRoot, "bin", "elixir"), rebar3: f.rebar3, searchPath: "", cacheDir };
  const tc = await detectToolchain(opts);
  assert.deepEqual(
    { ...tc },
    {
      otpRelease: "26",
      otpVersion: "26.1.2",
      ertsVersion: "14.1",
      nifVersion: "2.17",
      targetTriple: "aarch64-unknown-linux-gnu",
      wordSize: 8,
      elixirVersion: "1.99.0",
      rebar3Version: "3.99.1",
      paths: {
        erlRoot: f.otp,
        erl: join(f.otp, "bin", "erl"),
        erlc: join(f.otp, "bin", "erlc"),
        escript: join(f.otp, "bin", "escript"),
        ertsInclude: join(f.otp, "erts-14.1", "include"),
        elixirRoot: f.elixirRoot,
        elixir: join(f.elixirRoot, "bin", "elixir"),
        mix: join(f.elixirRoot, "bin", "mix"),
        rebar3: f.rebar3,
      },
      binDirs: [join(f.otp, "bin"), join(f.elixirRoot, "bin"), dirname(f.rebar3)],
      readOnlyBinds: [f.otp, f.elixirRoot, f.rebar3],
    },
  );
  assert.equal(f.runs(), 1);
  await detectToolchain(opts);
  assert.equal(f.runs(), 1, "second detection comes from the cache");

  // a rewritten erl (an upgrade in place) is a miss
  const erl = join(f.otp, "bin", "erl");
  writeFileSync(erl, readFileSync(erl, "utf8").replace("14.1", "14.2"));
  await detectToolchain(opts);
  assert.equal(f.runs(), 2);
  // so is an erl with only a new mtime
  utimesSync(erl, new Date(), new Date(Date.now() + 5000));
  assert.equal((await detectToolchain(opts)).ertsVersion, "14.2");
  assert.equal(f.runs(), 3);
  // a new rebar3 is seen
  makeEscript(f.rebar3, { "rebar/ebin/rebar.app": '{application,rebar,[{vsn,"3.99.2"}]}.' });
  assert.equal((await detectToolchain(opts)).rebar3Version, "3.99.2");
  assert.equal(f.runs(), 4);
  // a corrupt cache file is only a miss
  writeFileSync(join(cacheDir, "toolchains.json"), "{not json");
  assert.equal((await detectToolchain(opts)).otpVersion, "26.1.2");
  assert.equal(f.runs(), 5);
  await detectToolchain(opts);
  assert.equal(f.runs(), 5);
});

test("facts another VM of the install reports replace asking erl, only when they are its own and no variable changes the VM", async () => {
  const f = fakeToolchain("offered");
  const opts = { erlRoot: f.otp, elixirBin: join(f.elixirRoot, "bin", "elixir"), rebar3: f.rebar3, searchPath: "", cacheDir: null };
  const asked = await detectToolchain(opts);
  assert.equal(f.runs(), 1);
  const facts = (root: string, nif = "2.17") => Promise.resolve(`26\n14.1\n${nif}\naarch64-unknown-linux-gnu\n${root}\n8\n`);
  // The same text as erl prints: the same toolchain, and erl does not run.
  assert.deepEqual(await detectToolchain(opts, () => facts(f.otp)), asked);
  assert.equal(f.runs(), 1);
  // What was offered is what is used (here told apart from erl's answer by its NIF version).
  assert.equal((await detectToolchain(opts, () => facts(f.otp, "2.99"))).nifVersion, "2.99");
  assert.equal(f.runs(), 1);
  // Another root (a VM that is not this install's), no facts, or unreadable ones: erl is asked.
  for (const offered of [() => facts(tmp), () => Promise.resolve(undefined), () => Promise.resolve("garbage"), () => Promise.reject(new Error("gone"))]) {
    assert.deepEqual(await detectToolchain(opts, offered), asked);
  }
  assert.equal(f.runs(), 5);
  // A variable that changes what a VM does: the offering VM ran with it, erl is asked without.
  process.env.ERL_AFLAGS = "+S 1";
  try {
    assert.equal((await detectToolchain(opts, () => facts(f.otp, "2.99"))).nifVersion, "2.17");
  } finally {
    delete process.env.ERL_AFLAGS;
  }
  assert.equal(f.runs(), 6);
  // Only asked when the cache has no answer.
  const cached = { ...opts, cacheDir: join(f.root, "cache") };
  await detectToolchain(cached);
  assert.equal(f.runs(), 7);
  let offers = 0;
  await detectToolchain(cached, () => (offers++, facts(f.otp)));
  assert.equal(offers, 0);
});

test("tools found on PATH; shims are never cached; rebar3 wrappers are asked", async () => {
  const f = fakeToolchain("onpath");
  const bin = join(f.root, "bin");
  // a version-manager style shim: it decides at run time which erl to run
  writeExecutable(join(bin, "erl"), `#!/bin/sh\nexec '${join(f.otp, "bin", "erl")}' "$@"\n`);
  writeExecutable(join(bin, "rebar3"), "#!/bin/sh\necho 'rebar 3.88.0 on Erlang/OTP 26 Erts 14.1'\n");
  const cacheDir = join(f.root, "cache");
  const tc = await detectToolchain({ searchPath: `relative/dir:${bin}`, cacheDir });
  assert.equal(tc.otpVersion, "26.1.2");
  assert.equal(tc.paths.erlRoot, f.otp, "the root comes from erl, not from where the shim is");
  assert.equal(tc.rebar3Version, "3.88.0");
  assert.equal(tc.elixirVersion, null, "no elixir on this PATH");
  assert.equal(tc.paths.elixir, null);
  assert.deepEqual(tc.readOnlyBinds, [f.otp, join(bin, "rebar3")]);
  await detectToolchain({ searchPath: bin, cacheDir });
  assert.equal(f.runs(), 2, "a shim can switch versions without any file changing, so no cache");
});

test("missing or wrong toolchains are clear errors", async () => {
  await assert.rejects(detectToolchain({ searchPath: join(tmp, "nowhere"), cacheDir: null }), (e: unknown) => e instanceof BeamixError && /no erl on PATH/.test(e.message));
  await assert.rejects(detectToolchain({ erlRoot: tmp, cacheDir: null }), /is not an Erlang\/OTP installation: no executable bin\/erl/);
  const f = fakeToolchain("broken");
  await assert.rejects(detectToolchain({ erlRoot: f.otp, rebar3: join(f.root, "nope"), cacheDir: null }), /rebar3 executable .*nope is not an executable file/);
  rmSync(join(f.otp, "releases", "26", "OTP_VERSION"));
  await assert.rejects(detectToolchain({ erlRoot: f.otp, searchPath: "", cacheDir: null }), /cannot read the OTP version from .*OTP_VERSION/);
  writeExecutable(join(f.otp, "bin", "erl"), "#!/bin/sh\necho 'boom' >&2\nexit 1\n");
  await assert.rejects(detectToolchain({ erlRoot: f.otp, searchPath: "", cacheDir: null }), /asking erl for its release failed .*boom/);
});

test("an erl started early (beamix deps, before its CLI loads) is detection's answer only for the same erl in the same environment", async () => {
  const f = fakeToolchain("early");
  const opts = { erlRoot: f.otp, elixirBin: join(f.elixirRoot, "bin", "elixir"), rebar3: f.rebar3, searchPath: "", cacheDir: null };
  const asked = await detectToolchain(opts);
  assert.equal(f.runs(), 1);
  // Taken: the same toolchain, and erl ran once more in all (the early one).
  startEarlyErl(opts);
  assert.deepEqual(await detectToolchain(opts), asked);
  assert.equal(f.runs(), 2);
  // Started for another erl: detection asks its own, and the early one is still there for its erl.
  startEarlyErl(opts);
  const other = fakeToolchain("early-other");
  await detectToolchain({ ...opts, erlRoot: other.otp });
  assert.equal(other.runs(), 1);
  assert.ok(await takeEarlyErl(join(f.otp, "bin", "erl")), "still there for its own erl");
  // Started in another environment than detection runs erl in (here PATH): not taken, erl is
  // asked again; the early one stays for its environment.
  startEarlyErl(opts);
  const path = process.env.PATH;
  process.env.PATH = `${path}:${join(tmp, "elsewhere")}`;
  try {
    await detectToolchain(opts);
  } finally {
    process.env.PATH = path;
  }
  const left = takeEarlyErl(join(f.otp, "bin", "erl"));
  assert.ok(left);
  await left;
  assert.equal(f.runs(), 5, "the two early ones and detection's own");
  assert.equal(takeEarlyErl(join(f.otp, "bin", "erl")), undefined, "taken once");
  // A toolchain the cache knows: nothing is started.
  const cached = { ...opts, cacheDir: join(f.root, "cache") };
  await detectToolchain(cached);
  const runs = f.runs();
  startEarlyErl(cached);
  assert.equal(takeEarlyErl(join(f.otp, "bin", "erl")), undefined);
  assert.equal(f.runs(), runs);
  // No toolchain there at all: nothing started, nothing thrown (detection reports it).
  startEarlyErl({ erlRoot: join(tmp, "nowhere"), searchPath: "", cacheDir: null });
});

test("beamix deps starts erl early only when it may ask binary caches: otherwise Mix's VM, if needed, gives the facts", async () => {
  const f = fakeToolchain("early-cli");
  const saved = { ...process.env };
  const config = join(f.root, "config");
  Object.assign(process.env, { BEAMIX_TOOLCHAIN: f.otp, BEAMIX_CACHE_DIR: join(f.root, "cache"), BEAMIX_CONFIG_DIR: config });
  const erl = join(f.otp, "bin", "erl");
  try {
    for (const args of [["--no-substitutes"], ["--check", "--substituters", "http://127.0.0.1:9"], [], ["tree", "--substituters", "http://127.0.0.1:9"]]) {
      startDepsToolchainProbe(args);
      assert.equal(takeEarlyErl(erl), undefined, args.join(" "));
    }
    startDepsToolchainProbe(["--substituters", "http://127.0.0.1:9"]);
    assert.ok(await takeEarlyErl(erl));
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, "substituters"), "# none yet\n");
    startDepsToolchainProbe([]);
    assert.equal(takeEarlyErl(erl), undefined, "a substituters file with only a comment");
    writeFileSync(join(config, "substituters"), "file:///srv/cache\n");
    startDepsToolchainProbe(["--env", "prod"]);
    assert.ok(await takeEarlyErl(erl));
    assert.equal(f.runs(), 2);
  } finally {
    for (const k of ["BEAMIX_TOOLCHAIN", "BEAMIX_CACHE_DIR", "BEAMIX_CONFIG_DIR"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});
