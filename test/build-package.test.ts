// Builds the fixture corpus with buildPackage, inside the real sandbox, in dependency order,
// and checks what the builds produce. A small test-local orchestrator copies each fixture's
// source (with equal timestamps, as an unpacked Hex tarball has), builds it against plain
// directories standing in for store items, and moves the staged output into place. Builds
// are shared across tests: each distinct package build runs once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPackage, type BuildInput, type BuildResult } from "../src/builder/build-package.ts";
import { searchableParts } from "../src/builder/beam-chunks.ts";
import { findEmbeddedPaths } from "../src/builder/validate.ts";
import type { CompileConfig } from "../src/derivation/config.ts";
import { type PhaseOverride } from "../src/derivation/definition.ts";
import { validateDefinition } from "../src/derivation/definition-validate.ts";
import { createDerivation, derivationHash } from "../src/derivation/derivation.ts";
import { parseTerms } from "../src/erlang/parse.ts";
import { termsEqual } from "../src/erlang/order.ts";
import { bin, list, map, listView, unwrap, type Term } from "../src/erlang/term.ts";
import { sandboxAvailable, sandboxUnavailableMessage } from "../src/sandbox/bwrap.ts";
import { hashTree } from "../src/store/nar.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";
import { readFixtureTables, type Fixture } from "./support/fixture-build.ts";

const check = await sandboxAvailable();
const skip = check.available ? false : sandboxUnavailableMessage(check.reason);

const { packages } = readFixtureTables();
const fixture = (dir: string): Fixture => {
  const fx = packages.find((p) => p.dir.endsWith(`/packages/${dir}`));
  if (!fx) throw new Error(`no fixture ${dir}`);
  return fx;
};

// The webapp consumer's compile-time config for mimetable (test/fixtures/consumers/webapp/config).
const WEBAPP_TYPES: Term = map([
  [bin("application/x-webapp-note"), list([bin("wnote")])],
  [bin("text/x-webapp-log"), list([bin("text")])],
]);
const WEBAPP_CONFIG: CompileConfig = { mimetable: { types: WEBAPP_TYPES } };

let tmp: string;
let tc: Toolchain;
let storeRoot: string;
before(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-build-")));
  tc = await detectToolchain({ cacheDir: join(tmp, "cache") });
  storeRoot = join(tmp, "store");
  for (const d of ["store", "sources", "work", "staging"]) mkdirSync(join(tmp, d));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Stored {
  name: string;
  version: string;
  app: string;
  drvHash: string;
  storePath: string;
  closure: Stored[]; // transitive inputs, not including itself
}

interface Spec {
  fixture?: string; // a directory of test/fixtures/packages
  source?: { dir: string; name: string; version: string; app?: string; buildSystem: "mix" | "rebar3" | "make" };
  inputs?: Stored[]; // direct inputs
  missing?: string[]; // declared (with a made-up derivation hash) but not given to the build
  config?: CompileConfig;
  phases?: PhaseOverride[];
  patches?: unknown[]; // as a definition file spells them
  patchDir?: string;
  check?: boolean;
  store?: string;
  sandbox?: boolean;
  keepFailed?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Built {
  result: BuildResult;
  log: string;
  stored: Stored | null;
  workDir: string;
}

let sourceCount = 0;
let logCount = 0;
// Our own unpack: a copy whose files all carry one timestamp, like an unpacked Hex tarball.
function unpackFixture(dir: string): string {
  const to = join(tmp, "sources", `${dir}-${++sourceCount}`);
  cpSync(join(import.meta.dirname, "fixtures", "packages", dir), to, { recursive: true });
  const stamp = (p: string) => {
    if (statSync(p).isDirectory()) for (const e of readdirSync(p)) stamp(join(p, e));
    utimesSync(p, 946684800, 946684800);
  };
  stamp(to);
  return to;
}

function closureInputs(direct: Stored[]): BuildInput[] {
  const out = new Map<string, BuildInput>();
  for (const d of direct) out.set(d.app, { name: d.name, app: d.app, version: d.version, storePath: d.storePath, direct: true });
  for (const d of direct) {
    for (const t of d.closure) if (!out.has(t.app)) out.set(t.app, { name: t.name, app: t.app, version: t.version, storePath: t.storePath, direct: false });
  }
  return [...out.values()];
}

async function build(spec: Spec): Promise<Built> {
  const fx = spec.fixture ? fixture(spec.fixture) : null;
  const src = spec.source;
  const name = fx?.name ?? src!.name;
  const version = fx?.version ?? src!.version;
  const app = fx?.app ?? src!.app ?? name;
  const direct = spec.inputs ?? [];
  const declared = fx ? fx.deps.map((d) => ({ name: d.package, app: d.app ?? d.package, optional: d.optional })) : direct.map((d) => ({ name: d.name, app: d.app, optional: false }));
  const definition = validateDefinition({
    name,
    version,
    app,
    buildSystem: fx?.build ?? src!.buildSystem,
    source: { type: "dir", path: fx?.dir ?? src!.dir, treeHash: "0".repeat(64) },
    inputs: declared,
    arguments: { check: spec.check ?? false, phases: spec.phases ?? [], patches: spec.patches ?? [] },
  });
  const hashes: Record<string, string> = {};
  for (const d of direct) hashes[d.name] = d.drvHash;
  for (const m of spec.missing ?? []) hashes[m] = "f".repeat(64);
  const config = spec.config ?? {};
  const derivation = createDerivation({ definition, toolchain: tc, inputs: hashes, projectConfig: config, configApps: Object.keys(config) });
  const drvHash = derivationHash(derivation);
  const workDir = mkdtempSync(join(tmp, "work", `${name}-`));
  const outDir = mkdtempSync(join(tmp, "staging", `${name}-`));
  const store = spec.store ?? storeRoot;
  let log = "";
  const result = await buildPackage({
    derivation,
    drvHash,
    sourceDir: fx ? unpackFixture(spec.fixture!) : src!.dir,
    inputs: closureInputs(direct),
    compileConfig: config,
    toolchain: tc,
    outDir,
    workDir,
    readOnlyDirs: [store],
    sandbox: spec.sandbox ?? true,
    timeoutMs: spec.timeoutMs ?? 120_000,
    signal: spec.signal,
    log: (s) => {
      log += s;
    },
    keepFailed: spec.keepFailed,
    keepRoot: join(tmp, "kept"),
    patchDir: spec.patchDir,
  });
  // BEAMIX_TEST_LOGS=DIR keeps every build log there, for looking at what the tools said.
  if (process.env.BEAMIX_TEST_LOGS) writeFileSync(join(process.env.BEAMIX_TEST_LOGS, `${name}-${version}-${drvHash.slice(0, 8)}-${++logCount}.log`), log);
  if (!result.ok) {
    rmSync(outDir, { recursive: true, force: true });
    return { result, log, stored: null, workDir };
  }
  const storePath = join(store, `${drvHash.slice(0, 32)}-${name}-${version}`);
  rmSync(storePath, { recursive: true, force: true });
  renameSync(outDir, storePath);
  const closure = [...new Map([...direct, ...direct.flatMap((d) => d.closure)].map((s) => [s.app, s])).values()];
  return { result, log, stored: { name, version, app, drvHash, storePath, closure }, workDir };
}

const buildTimes: string[] = [];

async function buildOk(spec: Spec): Promise<Stored> {
  const b = await build(spec);
  if (!b.result.ok) assert.fail(`${b.result.failure}\n--- log tail ---\n${b.log.slice(-3000)}`);
  buildTimes.push(`${b.stored!.name}-${b.stored!.version}: ${(b.result.durationMs / 1000).toFixed(2)} s`);
  return b.stored!;
}

// Each distinct build once, on first use.
const memo = new Map<string, Promise<Stored>>();
const once = (key: string, f: () => Promise<Stored>) => (): Promise<Stored> => {
  let p = memo.get(key);
  if (!p) {
    p = f();
    memo.set(key, p);
  }
  return p;
};

const beacon = once("beacon", () => buildOk({ fixture: "beacon-1.2.0" }));
const wirecodec = once("wirecodec", () => buildOk({ fixture: "wirecodec-1.0.0" }));
const wireserve = once("wireserve", async () => buildOk({ fixture: "wireserve-1.0.0", inputs: [await wirecodec()] }));
const mimetable = once("mimetable", () => buildOk({ fixture: "mimetable-1.0.0", config: WEBAPP_CONFIG }));
const plugboard = once("plugboard", async () => buildOk({ fixture: "plugboard-0.4.0", inputs: [await mimetable(), await beacon()], config: WEBAPP_CONFIG }));
const jsonish = once("jsonish", () => buildOk({ fixture: "jsonish-0.3.1" }));
const sockadapt = once("sockadapt", async () => buildOk({ fixture: "sockadapt-0.1.2", inputs: [await jsonish(), await wireserve()] }));
const sockadaptBare = once("sockadapt-bare", () => buildOk({ fixture: "sockadapt-0.1.2" }));
const trellisInputs = async () => [await plugboard(), await beacon(), await mimetable(), await sockadapt(), await jsonish()];
const trellis = once("trellis", async () => buildOk({ fixture: "trellis-0.9.0", inputs: await trellisInputs(), config: WEBAPP_CONFIG }));
const nifsum = once("nifsum", () => buildOk({ fixture: "nifsum-0.2.0" }));
const confetti = once("confetti", () => buildOk({ fixture: "confetti-0.3.0" }));

const libDir = (s: Stored) => join(s.storePath, "lib", "erlang", "lib", `${s.app}-${s.version}`);

function readApp(s: Stored): Map<string, Term> {
  const [t] = parseTerms(readFileSync(join(libDir(s), "ebin", `${s.app}.app`), "utf8"));
  const u = unwrap(t);
  assert.ok(u.type === "tuple");
  const props = new Map<string, Term>();
  for (const p of listView(u.items[2])!.items) {
    const pu = unwrap(p);
    if (pu.type === "tuple" && pu.items[0].type === "atom") props.set(pu.items[0].value, pu.items[1]);
  }
  return props;
}

const atoms = (t: Term | undefined): string[] => listView(t!)!.items.map((a) => (unwrap(a) as { value: string }).value);
const chars = (t: Term | undefined): string => listView(t!)!.items.map((c) => String.fromCodePoint(Number((unwrap(c) as { value: bigint }).value))).join("");

function erl(expr: string, erlLibs: string[]): string {
  return execFileSync("erl", ["-noshell", "-eval", expr], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: tmp, ERL_LIBS: erlLibs.join(":") },
  });
}

// Every file of a tree, as path -> bytes, for comparisons that name the file that differs.
function treeFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out.set(r, readFileSync(join(d, e.name)));
    }
  };
  walk(root, "");
  return out;
}

test("every fixture package builds in the sandbox, in dependency order", { skip }, async () => {
  for (const f of [beacon, wirecodec, wireserve, mimetable, plugboard, jsonish, sockadapt, sockadaptBare, trellis, nifsum, confetti]) {
    const s = await f();
    assert.ok(existsSync(join(libDir(s), "ebin", `${s.app}.app`)), `${s.name} has its .app`);
  }
  // Outputs are plain files with normal modes: nothing links back into the build or the store.
  for (const s of [await beacon(), await trellis(), await nifsum()]) {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        assert.ok(e.isFile() || e.isDirectory(), `${p} is a file or a directory`);
        const mode = statSync(p).mode & 0o7777;
        if (e.isDirectory()) {
          assert.equal(mode, 0o755, p);
          walk(p);
        } else assert.ok(mode === 0o644 || mode === 0o755, `${p} has mode ${mode.toString(8)}`);
      }
    };
    walk(s.storePath);
  }
  // Mix's consolidated protocols and .mix manifests stay out of the output.
  assert.deepEqual(readdirSync(libDir(await trellis())).sort(), ["ebin", "priv"]);
  console.log(`build times (sandboxed): ${buildTimes.join(", ")}`);
});

test("beacon's ?FILE embeds no host path, and Elixir debug info names the fixed build path", { skip }, async () => {
  const b = await beacon();
  const out = erl(`io:format("~ts", [maps:get(file, beacon:origin())]), halt().`, [join(b.storePath, "lib", "erlang", "lib")]);
  assert.ok(!out.includes(tmp), `?FILE is ${out}`);
  // With ERL_COMPILER_OPTIONS=deterministic, erlc reduces ?FILE to the file name; anything
  // longer must be the fixed build path.
  assert.ok(out === "beacon.erl" || out.startsWith("/build/source/"), `?FILE is ${out}`);
  assert.deepEqual(await findEmbeddedPaths(b.storePath, [tmp]), []);

  const t = await trellis();
  const beam = readFileSync(join(libDir(t), "ebin", "Elixir.Trellis.ErrorPage.beam"));
  const parts = searchableParts(beam);
  assert.ok(parts.some((p) => p.includes("/build/source/lib/trellis/error_page.ex")), "the debug info names the source at the fixed build path");
  assert.ok(!parts.some((p) => p.includes(tmp)), "no host path in the module");
  assert.deepEqual(await findEmbeddedPaths(t.storePath, [tmp]), []);
});

test("rebuilding beacon and trellis elsewhere (work dir, staging dir, store) gives byte-identical trees", { skip }, async () => {
  const otherStore = join(tmp, "other-store");
  mkdirSync(otherStore, { recursive: true });
  const moved = new Map<string, Stored>();
  const relocate = (s: Stored): Stored => {
    const known = moved.get(s.app);
    if (known) return known;
    const storePath = join(otherStore, `moved-${s.name}-${s.version}`);
    cpSync(s.storePath, storePath, { recursive: true });
    const r = { ...s, storePath, closure: s.closure.map(relocate) };
    moved.set(s.app, r);
    return r;
  };
  const b1 = await beacon();
  const b2 = await buildOk({ fixture: "beacon-1.2.0", store: otherStore });
  const t1 = await trellis();
  const t2 = await buildOk({ fixture: "trellis-0.9.0", inputs: (await trellisInputs()).map(relocate), config: WEBAPP_CONFIG, store: otherStore });
  for (const [x, y] of [[b1, b2], [t1, t2]]) {
    const fx = treeFiles(x.storePath);
    const fy = treeFiles(y.storePath);
    assert.deepEqual([...fy.keys()].sort(), [...fx.keys()].sort());
    for (const [f, bytes] of fx) assert.ok(bytes.equals(fy.get(f)!), `${x.name}: ${f} differs between the two builds`);
    assert.equal((await hashTree(y.storePath)).hash, (await hashTree(x.storePath)).hash);
  }
});

test("erlang.mk packages: the stale committed .app is replaced, LOCAL_DEPS and DEPS stay in applications", { skip }, async () => {
  const codec = readApp(await wirecodec());
  assert.equal(chars(codec.get("vsn")), "1.0.0"); // the committed one says 0.9.0
  assert.ok(atoms(codec.get("modules")).includes("wirecodec_frame"), "the module missing from the stale .app is listed");
  assert.deepEqual(atoms(codec.get("applications")), ["kernel", "stdlib", "crypto"]);
  const serve = readApp(await wireserve());
  assert.equal(chars(serve.get("vsn")), "1.0.0");
  assert.deepEqual(atoms(serve.get("applications")), ["kernel", "stdlib", "wirecodec"]);
  assert.ok(existsSync(join(libDir(await wirecodec()), "include", "wirecodec.hrl")), "include/ is installed");
});

test("sockadapt has its wireserve adapter exactly when wireserve is an input", { skip }, async () => {
  const adapter = "Elixir.Sockadapt.WireserveAdapter.beam";
  assert.ok(existsSync(join(libDir(await sockadapt()), "ebin", adapter)));
  assert.ok(existsSync(join(libDir(await sockadapt()), "ebin", "Elixir.Sockadapt.Json.beam")));
  assert.ok(!existsSync(join(libDir(await sockadaptBare()), "ebin", adapter)));
  assert.ok(!existsSync(join(libDir(await sockadaptBare()), "ebin", "Elixir.Sockadapt.Json.beam")));
});

test("mimetable records the given compile-time config; plugboard builds against it only with that config", { skip }, async () => {
  const env = readApp(await mimetable()).get("compile_env");
  assert.ok(env, "the .app has compile_env");
  const entry = listView(env)!.items.map(unwrap).find((e) => e.type === "tuple" && atoms(e.items[1])[0] === "types")!;
  assert.ok(entry.type === "tuple");
  assert.equal((unwrap(entry.items[0]) as { value: string }).value, "mimetable");
  assert.deepEqual(atoms(entry.items[1]), ["types"]);
  const ok = unwrap(entry.items[2]);
  assert.ok(ok.type === "tuple" && termsEqual(ok.items[1], WEBAPP_TYPES), "compile_env holds {ok, Types} with the given types");

  await plugboard(); // with the merged config: fine
  // Without it Mix refuses: the loaded mimetable was compiled with other values (this also
  // shows the input is visible to Mix as a dependency, or it would not be validated).
  const bare = await build({ fixture: "plugboard-0.4.0", inputs: [await mimetable(), await beacon()] });
  assert.equal(bare.result.ok, false);
  assert.match(
    !bare.result.ok ? bare.result.failure : "",
    /^build phase of plugboard 0\.4\.0 failed: build failed with exit status 1: ERROR! the application :mimetable has a different value set for key :types/,
  );
});

test("nifsum's NIF is installed and loads", { skip }, async () => {
  const n = await nifsum();
  assert.ok(statSync(join(libDir(n), "priv", "nifsum.so")).mode & 0o100, "the library is executable");
  const out = erl(
    `io:format("~p ~p", ['Elixir.Nifsum':adler32(<<"Wikipedia">>), erlang:adler32(<<"Wikipedia">>)]), halt().`,
    [join(n.storePath, "lib", "erlang", "lib"), join(tc.paths.elixirRoot!, "lib")],
  );
  const [nif, reference] = out.split(" ");
  assert.equal(nif, reference);
});

test("confetti installs as confetti_app-0.3.0", { skip }, async () => {
  const c = await confetti();
  assert.deepEqual(readdirSync(join(c.storePath, "lib", "erlang", "lib")), ["confetti_app-0.3.0"]);
  assert.ok(existsSync(join(c.storePath, "lib", "erlang", "lib", "confetti_app-0.3.0", "ebin", "confetti_app.app")));
});

test("validate fails naming the application when a required input is left out", { skip }, async () => {
  const b = await build({ fixture: "plugboard-0.4.0", inputs: [await mimetable()], missing: ["beacon"], config: WEBAPP_CONFIG });
  assert.equal(b.result.ok, false);
  const failure = !b.result.ok ? b.result.failure : "";
  assert.match(failure, /^validate phase of plugboard 0\.4\.0 failed: .*neither in the toolchain nor among the inputs: beacon$/);
  assert.ok(!failure.includes("\n"));
});

// A package whose compilation dials a TCP port on the host's loopback at compile time.
function dialerSource(port: number): string {
  const dir = mkdtempSync(join(tmp, "sources", "dialer-"));
  mkdirSync(join(dir, "lib"));
  writeFileSync(join(dir, "mix.exs"), `defmodule Dialer.MixProject do\n  use Mix.Project\n  def project, do: [app: :dialer, version: "0.1.0", deps: []]\nend\n`);
  writeFileSync(
    join(dir, "lib", "dialer.ex"),
    `defmodule Dialer do
  @greeting (case :gen_tcp.connect({127, 0, 0, 1}, ${port}, [:binary, active: false], 5000) do
    {:ok, socket} ->
      {:ok, data} = :gen_tcp.recv(socket, 0, 5000)
      data
    {:error, reason} ->
      raise "dialer: cannot reach the host: #{inspect(reason)}"
  end)
  def greeting, do: @greeting
end
`,
  );
  return dir;
}

test("a build cannot reach a TCP port on the host; keepFailed keeps the build directory with its environment", { skip }, async () => {
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    s.end("hello from the host");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const dir = dialerSource(port);
    const spec: Spec = { source: { dir, name: "dialer", version: "0.1.0", buildSystem: "mix" }, keepFailed: true };
    const sandboxed = await build(spec);
    assert.equal(sandboxed.result.ok, false);
    const r = sandboxed.result as { ok: false; failure: string; keptDir?: string };
    assert.match(r.failure, /^build phase of dialer 0\.1\.0 failed: .*\(RuntimeError\) dialer: cannot reach the host: :econnrefused$/);
    assert.equal(connections, 0);

    // The kept directory: the source copy, and the environment the build had.
    const kept = r.keptDir ?? "";
    assert.ok(kept.startsWith(join(tmp, "kept", "beamix-failed-dialer-0.1.0-")), kept);
    assert.ok(existsSync(join(kept, "source", "lib", "dialer.ex")));
    const envText = readFileSync(join(kept, "environment-variables"), "utf8");
    for (const line of ["ERL_COMPILER_OPTIONS=deterministic", "HOME=/build/home", "MIX_ENV=prod", "HEX_OFFLINE=1", "LANG=C.UTF-8", "MIX_HOME=/build/mix-home"]) {
      assert.ok(envText.split("\n").includes(line), `environment-variables has ${line}`);
    }
    assert.ok(!existsSync(join(sandboxed.workDir, "build")), "the build directory was moved");
    rmSync(kept, { recursive: true, force: true });

    // The same package without the sandbox reaches the host; the log says what is lost.
    const open = await build({ ...spec, keepFailed: false, sandbox: false });
    assert.ok(open.result.ok, !open.result.ok ? open.result.failure : "");
    assert.equal(connections, 1);
    assert.match(open.log, /WITHOUT a sandbox/);
    assert.match(open.log, /warning: outputs embed host paths/);
    assert.ok(!existsSync(join(open.workDir, "build")), "the build directory is removed after a successful build");
  } finally {
    server.close();
  }
});

test("phase overrides: add, replace and remove by name", { skip }, async () => {
  const out = "/build/out/lib/erlang/lib/wirecodec-1.0.0";
  const added = await build({
    fixture: "wirecodec-1.0.0",
    phases: [
      { op: "add", name: "add-notes", after: "build", shell: "mkdir -p priv && printf 'added after build' > priv/notes.txt" },
      { op: "replace", name: "install", shell: `mkdir -p ${out} && cp -R ebin priv ${out}/` },
    ],
  });
  assert.ok(added.result.ok, !added.result.ok ? added.result.failure : "");
  const lib = libDir(added.stored!);
  assert.equal(readFileSync(join(lib, "priv", "notes.txt"), "utf8"), "added after build");
  assert.ok(!existsSync(join(lib, "include")), "the replaced install did not copy include/");
  assert.match(added.log, /phases: unpack, patch, configure, build, add-notes, check, install, validate/);

  // Replacing configure with a no-op keeps the stale committed .app: make sees nothing to do
  // and validate refuses the result.
  const stale = await build({ fixture: "wirecodec-1.0.0", phases: [{ op: "replace", name: "configure", run: ["true"] }] });
  assert.equal(stale.result.ok, false);
  assert.match(!stale.result.ok ? stale.result.failure : "", /^validate phase of wirecodec 1\.0\.0 failed: .*has vsn "0\.9\.0", expected "1\.0\.0"/);

  // Removing validate lets that stale .app through.
  const unchecked = await build({
    fixture: "wirecodec-1.0.0",
    phases: [
      { op: "replace", name: "configure", run: ["true"] },
      { op: "remove", name: "validate" },
    ],
  });
  assert.ok(unchecked.result.ok, !unchecked.result.ok ? unchecked.result.failure : "");
  assert.equal(chars(readApp(unchecked.stored!).get("vsn")), "0.9.0");
});

test("a Mix build does not consolidate protocols (as mix deps.compile for a dependency); the log ends with the phase times", { skip }, async () => {
  // jsonish defines a protocol, so a consolidating build would write _build/prod/consolidated.
  const b = await build({
    fixture: "jsonish-0.3.1",
    phases: [{ op: "add", name: "look", after: "build", shell: "test -d _build/prod/lib/jsonish/ebin && test ! -e _build/prod/consolidated" }],
  });
  assert.ok(b.result.ok, !b.result.ok ? `${b.result.failure}\n${b.log.slice(-2000)}` : "");
  assert.match(b.log, /mix compile --no-deps-check --no-protocol-consolidation --no-warnings-as-errors\n/);
  assert.match(
    b.log,
    /\nbeamix: phase times: unpack \d+\.\d{3} s, patch \d+\.\d{3} s, configure \d+\.\d{3} s, build \d+\.\d{3} s, look \d+\.\d{3} s, install \d+\.\d{3} s, validate \d+\.\d{3} s, set-up and clean-up \d+\.\d{3} s\n$/,
  );
});

test("a package whose own elixirc_options make warnings errors still builds, as under mix deps.compile", { skip }, async () => {
  const strict = [
    "sed -i 's/^\\( *\\)elixir: /\\1elixirc_options: [warnings_as_errors: true],\\n\\1elixir: /' mix.exs",
    "grep -q 'warnings_as_errors: true' mix.exs",
    "printf 'defmodule Jsonish.Warns do\\n  def f(unused), do: :ok\\nend\\n' > lib/warns.ex",
  ].join(" && ");
  const b = await build({ fixture: "jsonish-0.3.1", phases: [{ op: "add", name: "strict", after: "configure", shell: strict }] });
  assert.ok(b.result.ok, !b.result.ok ? `${b.result.failure}\n${b.log.slice(-2000)}` : "");
  assert.match(b.log, /variable "unused" is unused/);
});

test("the check phase runs each build system's tests when asked", { skip }, async () => {
  const make = await build({ fixture: "wirecodec-1.0.0", check: true });
  assert.ok(make.result.ok, !make.result.ok ? make.result.failure : "");
  assert.match(make.log, /==> check\n\$ cd source && make SKIP_DEPS=1 eunit/);
  assert.match(make.log, /All \d+ tests passed/);

  const rebar3 = await build({ fixture: "beacon-1.2.0", check: true });
  assert.ok(rebar3.result.ok, !rebar3.result.ok ? rebar3.result.failure : "");
  assert.match(rebar3.log, /rebar3 eunit/);
  assert.match(rebar3.log, /\d+ tests, 0 failures/);

  const mix = await build({ fixture: "jsonish-0.3.1", check: true });
  assert.ok(mix.result.ok, !mix.result.ok ? mix.result.failure : "");
  assert.match(mix.log, /MIX_ENV=test .* mix test --no-deps-check/);
  assert.match(mix.log, /\d+ tests?, 0 failures/);

  const skipped = await build({ fixture: "wirecodec-1.0.0" });
  assert.match(skipped.log, /==> check: skipped \(arguments.check is false\)/);
});

test("symlinks in the output resolve inside the sandbox: a host file cannot be copied out", { skip }, async () => {
  const secret = join(tmp, "host-secret.txt");
  writeFileSync(secret, "host secret");
  const leak = await build({
    fixture: "wirecodec-1.0.0",
    phases: [{ op: "add", name: "link-out", after: "build", shell: `mkdir -p priv && ln -s ${secret} priv/leak` }],
  });
  assert.equal(leak.result.ok, false);
  assert.match(!leak.result.ok ? leak.result.failure : "", /^install phase of wirecodec 1\.0\.0 failed: .*priv\/leak/);

  // A link to a path the sandbox has gets the sandbox's file, not the host's.
  const passwd = await build({
    fixture: "wirecodec-1.0.0",
    phases: [{ op: "add", name: "link-passwd", after: "build", shell: "mkdir -p priv && ln -s /etc/passwd priv/passwd" }],
  });
  assert.ok(passwd.result.ok, !passwd.result.ok ? passwd.result.failure : "");
  const copied = readFileSync(join(libDir(passwd.stored!), "priv", "passwd"), "utf8");
  assert.match(copied, /^root:x:0:0:root:\/build:\/bin\/sh$/m);
  assert.notEqual(copied, readFileSync("/etc/passwd", "utf8"));
});

test("the whole build is bounded by timeoutMs, and an abort signal cancels it", { skip }, async () => {
  const sleepy: PhaseOverride[] = [{ op: "add", name: "sleep", after: "build", run: ["sleep", "30"] }];
  // Long enough for the phases before "sleep" even on a loaded machine; far below the sleep.
  const slow = await build({ fixture: "wirecodec-1.0.0", phases: sleepy, timeoutMs: 8000 });
  assert.equal(slow.result.ok, false);
  assert.match(!slow.result.ok ? slow.result.failure : "", /^sleep phase of wirecodec 1\.0\.0 failed: build timed out after 8(\.0)? s$/);

  const ac = new AbortController();
  setTimeout(() => ac.abort(), 6000);
  const cancelled = await build({ fixture: "wirecodec-1.0.0", phases: sleepy, signal: ac.signal });
  assert.equal(cancelled.result.ok, false);
  assert.match(!cancelled.result.ok ? cancelled.result.failure : "", /^sleep phase of wirecodec 1\.0\.0 failed: build cancelled$/);
  assert.ok(!existsSync(join(cancelled.workDir, "build")), "the build directory is removed");
});

test("patches: text and file patches are applied in order; a file whose hash differs is refused", { skip }, async () => {
  const description = ["--- a/Makefile", "+++ b/Makefile", "@@ -13,3 +13,3 @@", " PROJECT = wirecodec", "-PROJECT_DESCRIPTION = Varints and length-prefixed frames", "+PROJECT_DESCRIPTION = Patched by a beamix definition", " PROJECT_VERSION = 1.0.0", ""].join("\n");
  const newFile = ["--- /dev/null", "+++ b/priv/patched.txt", "@@ -0,0 +1 @@", "+added by a patch file", ""].join("\n");
  const patchDir = mkdtempSync(join(tmp, "patches-"));
  writeFileSync(join(patchDir, "new-file.patch"), newFile);
  const sha = createHash("sha256").update(newFile).digest("hex");
  const patched = await build({ fixture: "wirecodec-1.0.0", patches: [{ text: description }, { file: "new-file.patch", sha256: sha }], patchDir });
  assert.ok(patched.result.ok, !patched.result.ok ? patched.result.failure : "");
  assert.equal(chars(readApp(patched.stored!).get("description")), "Patched by a beamix definition");
  assert.equal(readFileSync(join(libDir(patched.stored!), "priv", "patched.txt"), "utf8"), "added by a patch file\n");

  const wrong = await build({ fixture: "wirecodec-1.0.0", patches: [{ file: "new-file.patch", sha256: "0".repeat(64) }], patchDir });
  assert.equal(wrong.result.ok, false);
  assert.match(!wrong.result.ok ? wrong.result.failure : "", new RegExp(`^unpack phase of wirecodec 1\\.0\\.0 failed: patch new-file\\.patch has SHA-256 ${sha}, the definition says 0{64}$`));
});

test("a Mix compiler from an input runs: the webapp consumer, built as a package, uses trellis's", { skip }, async () => {
  const dir = join(import.meta.dirname, "fixtures", "consumers", "webapp");
  const b = await build({
    source: { dir, name: "webapp", version: "0.1.0", buildSystem: "mix" },
    inputs: [await trellis(), await sockadapt(), await wireserve(), await jsonish(), await nifsum(), await confetti()],
    config: WEBAPP_CONFIG,
    // The route table is written next to ebin/, which is not installed: copy it where it is.
    phases: [{ op: "add", name: "keep-routes", after: "build", shell: "cp _build/prod/lib/webapp/trellis/routes.txt priv/routes.txt" }],
  });
  assert.ok(b.result.ok, !b.result.ok ? `${b.result.failure}\n${b.log.slice(-2000)}` : "");
  const routes = readFileSync(join(libDir(b.stored!), "priv", "routes.txt"), "utf8");
  assert.match(routes, /^GET \/ Webapp\.PageController :index$/m);
  assert.doesNotMatch(b.log, /does not depend on|is undefined/);
  assert.deepEqual(
    atoms(readApp(b.stored!).get("applications")).filter((a) => !["kernel", "stdlib", "elixir", "logger"].includes(a)).sort(),
    ["confetti_app", "jsonish", "nifsum", "sockadapt", "trellis", "wireserve"],
  );
});
