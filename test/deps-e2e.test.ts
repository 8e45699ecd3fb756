// `beamix deps` end to end, through the CLI: the fixture corpus is served as a signed registry
// on loopback, consumer projects get a mix.lock written from the resolution (with the
// registry's real checksums), and the unmodified Mix then runs on the result.
//
// Mix runs without the Hex archive (it cannot be installed here), with one of beamix's two
// Hex SCM stand-ins loaded:
// - priv/elixir/hex_scm_lock_standin.exs checks dependencies as Hex does (fetchable, .hex
//   against mix.lock, managers from the lock) and is named Hex.SCM, so Mix's full deps check
//   runs on what `beamix deps` wrote: no --no-deps-check;
// - priv/elixir/hex_scm_standin.exs (the one builds use) says its dependencies are not
//   fetchable, which Mix takes for local dependencies, recompiled on every `mix compile`; with
//   it Mix needs --no-deps-check.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { fixturesDir, fixturePackageDirs, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { formatMixLock, parseMixLock, type MixLock } from "../src/mix/lock.ts";
import { parseBeam, chunkClass, beamModuleName } from "../src/erlang/beam.ts";
import { binaryToTerm, termToBinary } from "../src/erlang/etf.ts";
import { canonicalTerm } from "../src/derivation/config.ts";
import type { Term } from "../src/erlang/term.ts";
import { elixirScmManifest, GIT_SCM_MODULE, HEX_SCM_MODULE } from "../src/deps/mix-files.ts";
import { mixDepMarkers, type MixDepMarkers } from "../src/deps/mix-dep-markers.ts";
import { compareTerms } from "../src/erlang/order.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";
import { prepareMixProject, measureMixDepsCompile, cleanEnv } from "../bench/mix-baseline.ts";
import { lockForRequirements } from "../src/mix/lock-from-resolution.ts";
import { LOCK_STANDIN, webappProject } from "../bench/deps-bench.ts";
import { treeListing } from "./support/tree-listing.ts";

const BUILD_STANDIN = fileURLToPath(new URL("../priv/elixir/hex_scm_standin.exs", import.meta.url));
const VECTORS = fileURLToPath(new URL("./vectors/hex/", import.meta.url));

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let vectorServer: StaticServer;
let repo: HexRepo;
// The toolchain on PATH, which Mix runs here (`npm run test:toolchains` puts another first):
// what Mix leaves beside a dependency depends on its version (src/deps/mix-dep-markers.ts).
let toolchain: Toolchain;
let markers: MixDepMarkers;

before(async () => {
  toolchain = await detectToolchain({ cacheDir: null });
  markers = mixDepMarkers(toolchain.elixirVersion!);
  work = await mkdtemp(join(tmpdir(), "beamix-deps-e2e-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  vectorServer = await startStaticServer({ root: join(VECTORS, "registry", "public") });
  repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
});

after(async () => {
  await server?.close();
  await vectorServer?.close();
  await rm(work, { recursive: true, force: true });
});

const store = () => join(work, "store");
const repoArgs = () => ["--store", store(), "--repo", server.url, "--public-key", registry.publicKeyPath];
const cliEnv = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "" });

interface DepsJson {
  packages: { app: string; name: string; status: string; deps: string | null; build: string | null; reads: { app: string; key: string }[] | null; item: string | null }[];
  changed: boolean;
  failed: { name: string; message: string }[];
}

async function deps(dir: string, args: string[], extra: string[] = repoArgs()): Promise<CliResult & { json: DepsJson }> {
  const r = await beamix(["deps", dir, "--json", ...args, ...extra], { env: cliEnv(), timeoutMs: 900_000 });
  let json: DepsJson;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`beamix deps ${dir} ${args.join(" ")} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

const statusOf = (j: DepsJson) => Object.fromEntries(j.packages.map((p) => [p.name, p.status]));
const built = (j: DepsJson) => j.packages.filter((p) => p.status === "built").map((p) => p.name).sort();

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCommand(cmd, args, { cwd, env, timeoutMs: 600_000 });
}

// Mix as a user runs it, with a stand-in for the Hex SCM, a fresh MIX_HOME and nothing else
// from the caller that changes what Mix does.
async function mix(dir: string, args: string[], opts: { env: string; standin?: string }): Promise<CliResult> {
  const home = await mkdtemp(join(work, "home-"));
  const env = cleanEnv({ HOME: home, MIX_HOME: join(home, "mix"), HEX_HOME: join(home, "hex"), MIX_ENV: opts.env, LANG: "C.UTF-8" });
  return run("elixir", ["-r", opts.standin ?? LOCK_STANDIN, "-S", "mix", ...args], dir, env);
}

// The mix.lock `mix deps.get` writes for these requirements.
const lockFor = (roots: { name: string; requirement: string }[]): Promise<MixLock> => lockForRequirements(repo, roots);

// A copy of a consumer fixture with a mix.lock. webapp also declares wirecodec (webappProject
// says why).
async function consumer(name: "webapp" | "hello_beacon", as: string = name): Promise<string> {
  const dir = join(work, "projects", as);
  if (name === "webapp") return webappProject(dir, repo);
  await cp(join(fixturesDir, "consumers", name), dir, { recursive: true });
  await writeFile(join(dir, "mix.lock"), formatMixLock(await lockFor([{ name: "beacon", requirement: "~> 1.1" }])));
  return dir;
}

const listing = treeListing;

async function vectorListing(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await readFile(join(VECTORS, "consumer", "listings", file), "utf8")).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const [type, mode, size, sha, path, , target] = line.split(" ");
    out.set(path, type === "l" ? `l ${target}` : type === "d" ? `d ${mode}` : `f ${mode} ${size} ${sha}`);
  }
  return out;
}

// The vectors were written by Hex 2.1.1 and Mix 1.14.0 on OTP 25. With another toolchain, the
// marker files are those its Mix leaves (present or not, by version), and the files a VM of that
// toolchain writes in its own way (.hex and compile.elixir_scm in its term_to_binary, .app and
// mix.rebar.config by its Mix) are checked by what they say rather than byte for byte.
const onVectorsToolchain = () => toolchain.elixirVersion === "1.14.0" && toolchain.otpRelease === "25";
const BY_CONTENT = "by content";

function forThisToolchain(want: Map<string, string>): Map<string, string> {
  if (onVectorsToolchain()) return want;
  const out = new Map<string, string>();
  const apps = new Set<string>();
  for (const [path, entry] of want) {
    const m = /^(deps|_build\/prod\/lib)\/([^/]+)\/(.*)$/.exec(path);
    const [, top, app, rest] = m ?? [];
    if (top === "_build/prod/lib" && app !== "vec_app") apps.add(app);
    if (rest === ".fetch" && !markers.depsFetch) continue;
    if (rest === ".mix/compile.fetch" && markers.compileFetch === "none") continue;
    const byContent = rest === ".hex" || rest === ".mix/compile.elixir_scm" || rest === "mix.rebar.config" || (rest !== undefined && /^ebin\/[^/]+\.app$/.test(rest));
    out.set(path, byContent ? BY_CONTENT : entry);
  }
  if (markers.elixirScm === "every-fetchable") for (const app of apps) out.set(`_build/prod/lib/${app}/.mix/compile.elixir_scm`, BY_CONTENT);
  return out;
}

// The marker files a VM of this toolchain writes: .hex as the term Hex writes (a map, whose key
// order in term_to_binary depends on the VM's atom table from OTP 26), compile.elixir_scm byte
// for byte as Mix.Dep.ElixirSCM writes it for this Elixir and OTP.
async function assertMarkerFiles(dir: string): Promise<void> {
  const lock = parseMixLock(await readFile(join(VECTORS, "consumer", "vec_app", "mix.lock"), "utf8"));
  for (const app of ["vec_aliased", "vec_core", "vec_erl", "vec_opt"]) {
    const hex = await readFile(join(dir, "deps", app, ".hex"));
    const vector = await readFile(join(VECTORS, "consumer", "vec_app", "deps", app, ".hex"));
    assert.equal(compareTerms(binaryToTerm(hex), binaryToTerm(vector), { exact: true }), 0, `deps/${app}/.hex says what Hex's says`);
    const scm = await readFile(join(dir, "_build", "prod", "lib", app, ".mix", "compile.elixir_scm")).catch(() => undefined);
    if (scm === undefined) continue;
    const entry = lock.get(app)!;
    const want = elixirScmManifest(toolchain.elixirVersion!, toolchain.otpRelease, HEX_SCM_MODULE, markers.elixirScmVersion === 2 ? { version: 2, entry } : undefined);
    assert.ok(scm.equals(want), `${app}: compile.elixir_scm as this Mix writes it`);
  }
}

test("the vectors' consumer: deps/ and _build/ hold exactly what Hex and Mix wrote there", async () => {
  const dir = join(work, "projects", "vec_app");
  await mkdir(dir, { recursive: true });
  for (const f of ["mix.exs", "mix.lock", ".formatter.exs", "config", "lib", "test"]) await cp(join(VECTORS, "consumer", "vec_app", f), join(dir, f), { recursive: true });
  const args = ["--store", store(), "--repo", vectorServer.url, "--repo-name", "vectors", "--public-key", join(VECTORS, "registry", "public", "public_key")];
  const r = await deps(dir, ["--env", "prod"], args);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(built(r.json), ["vec_alias", "vec_core", "vec_erl", "vec_opt"]);
  assert.deepEqual(r.json.packages.find((p) => p.name === "vec_core")!.reads, [{ app: "vec_core", key: "mode" }]);

  // deps/: every file, mode and byte as Hex 2.1.1 left it — the package files,
  // hex_metadata.config, .hex and .fetch — except what rebar3 writes into deps/vec_erl/_build
  // while Mix compiles it.
  const wantDeps = forThisToolchain(await vectorListing("deps.txt"));
  for (const k of [...wantDeps.keys()]) if (k.startsWith("deps/vec_erl/_build/")) wantDeps.delete(k);
  const ourDeps = await listing(dir, "deps");
  for (const [path, entry] of wantDeps) if (entry === BY_CONTENT && ourDeps.get(path)?.startsWith("f ")) ourDeps.set(path, BY_CONTENT);
  assert.deepEqual(Object.fromEntries(ourDeps), Object.fromEntries(wantDeps));

  // _build/prod/lib: the same entries and bytes as after `mix deps.compile`, except the .beam
  // files (beamix compiles deterministically, Mix does not; compared by code below) and Mix's
  // compile.elixir and compile.app_tracer, which Mix reads only when it compiles the
  // dependency itself. .app files, compile.elixir_scm, compile.fetch, mix.rebar.config and the
  // include link are byte for byte the same.
  const wantBuild = forThisToolchain(await vectorListing("build-prod-lib.txt"));
  const ours = await listing(dir, "_build/prod/lib");
  for (const [path, entry] of wantBuild) if (entry === BY_CONTENT && ours.get(path)?.startsWith("f ")) ours.set(path, BY_CONTENT);
  let compared = 0;
  for (const [path, entry] of wantBuild) {
    if (path.startsWith("_build/prod/lib/vec_app/") || /\/\.mix\/compile\.(elixir|app_tracer)$/.test(path)) continue;
    if (path.endsWith(".beam")) {
      assert.ok(ours.has(path), `${path} is missing`);
      continue;
    }
    assert.equal(ours.get(path), entry, path);
    compared++;
  }
  assert.ok(compared >= 25, `compared ${compared} entries`);
  for (const path of ours.keys()) assert.ok(wantBuild.has(path), `${path} is not in the vectors`);
  await assertMarkerFiles(dir);

  const compile = await mix(dir, ["compile"], { env: "prod" });
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assert.match(compile.stdout, /^Compiling 1 file \(\.ex\)\nGenerated vec_app app\n$/);
  const check = await mix(dir, ["run", "-e", "IO.inspect VecApp.check()"], { env: "prod" });
  assert.equal(check.stdout.trim(), (await readFile(join(VECTORS, "consumer", "logs", "run-check.txt"), "utf8")).trim());
});

// Everything Mix printed, checked for the sign of a dependency being compiled: Mix announces
// each one with "==> app" before its compiler output.
function assertOnlyProjectCompiled(r: CliResult, app: string, files: number): void {
  const out = r.stdout + r.stderr;
  assert.doesNotMatch(out, /==> /, out);
  assert.doesNotMatch(out, /update Hex|Shall I/, "no Hex update prompt (Mix 1.17+ wants Hex >= 2.0.6)");
  assert.equal(out.match(/Compiling \d+ files? \(/g)?.length, 1, out);
  assert.match(out, new RegExp(`Compiling ${files} files? \\(\\.ex\\)\\n`));
  assert.match(out, new RegExp(`Generated ${app} app`));
}

test("webapp and hello_beacon: after beamix deps, mix compile compiles only the project and mix test passes", async () => {
  for (const [name, files] of [["webapp", 6], ["hello_beacon", 1]] as const) {
    const dir = await consumer(name);
    const first = await deps(dir, ["--env", "test"]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.json.packages.every((p) => p.deps === "create" && p.build === "create"), JSON.stringify(first.json.packages));
    assert.ok(!(await stat(join(dir, "_build", "test", "lib", name)).catch(() => null)), "the project's own _build entry is not beamix's to make");

    const compile = await mix(dir, ["compile"], { env: "test" });
    assert.equal(compile.code, 0, `${name}: mix compile\n${compile.stdout}\n${compile.stderr}`);
    assertOnlyProjectCompiled(compile, name, files);
    const t = await mix(dir, ["test"], { env: "test" });
    assert.equal(t.code, 0, `${name}: mix test\n${t.stdout}\n${t.stderr}`);
    assert.match(t.stdout, /\d+ tests?, 0 failures/);
    assert.doesNotMatch(t.stdout + t.stderr, /==> |Compiling/);
    // With the stand-in that builds use, Mix must be told to skip its deps check.
    // (Mix 1.18, seen here, then compiles again the project's modules that use a dependency's
    // macros, the dependencies having turned from fetched into local ones; no dependency.)
    const t2 = await mix(dir, ["test", "--no-deps-check"], { env: "test", standin: BUILD_STANDIN });
    assert.equal(t2.code, 0, `${name}: mix test --no-deps-check\n${t2.stdout}\n${t2.stderr}`);
    assert.doesNotMatch(t2.stdout + t2.stderr, toolchain.elixirVersion!.startsWith("1.14.") ? /==> |Compiling/ : /==> /);

    // Idempotent: nothing to do, nothing touched; the project's own _build entry is left alone.
    const own = join(dir, "_build", "test", "lib", name, "ebin", `${name}.app`);
    const ownBefore = await stat(own);
    const beam = join(dir, "_build", "test", "lib", "beacon", "ebin", "beacon.beam");
    const beamBefore = await stat(beam);
    const again = await deps(dir, ["--env", "test"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json.changed, false);
    assert.ok(again.json.packages.every((p) => p.status === "present" && p.deps === "unchanged" && p.build === "unchanged"));
    assert.equal((await stat(beam)).mtimeMs, beamBefore.mtimeMs);
    assert.equal((await stat(own)).mtimeMs, ownBefore.mtimeMs);
    const check = await deps(dir, ["--env", "test", "--check"]);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.json.changed, false);

    // --check reports a damaged dependency without repairing it; a run repairs it.
    await rm(beam);
    await writeFile(join(dir, "deps", "beacon", "src", "beacon.erl"), "% edited\n");
    const damaged = await deps(dir, ["--env", "test", "--check"]);
    assert.equal(damaged.code, 1);
    const b = damaged.json.packages.find((p) => p.name === "beacon")!;
    assert.equal(b.deps, "update");
    assert.equal(b.build, "update");
    assert.ok(!(await stat(beam).catch(() => null)), "--check wrote nothing");
    const repaired = await deps(dir, ["--env", "test"]);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.ok(await stat(beam));
    const after = await mix(dir, ["compile"], { env: "test" });
    assert.equal(after.code, 0, after.stdout + after.stderr);
    // The repaired items are the ones the project was compiled against: Mix 1.14 compiles
    // nothing; Mix 1.18 (seen here) compiles again the project's modules that use, at compile
    // time, a dependency whose _build files are newer. No dependency either way.
    assert.doesNotMatch(after.stdout + after.stderr, toolchain.elixirVersion!.startsWith("1.14.") ? /==> |Compiling/ : /==> /);

    // Another version of a dependency: Mix looks at the project again, as after its own
    // deps.compile (beamix touches the project's compile.lock, as Mix's will_recompile does), and
    // compiles no dependency.
    if (name === "hello_beacon") {
      await writeFile(join(dir, "mix.lock"), formatMixLock(await lockFor([{ name: "beacon", requirement: "== 1.1.0" }])));
      const other = await deps(dir, ["--env", "test"]);
      assert.equal(other.code, 0, other.stderr);
      assert.deepEqual(other.json.packages.map((p) => [p.name, p.build]), [["beacon", "update"]]);
      const again = await mix(dir, ["compile"], { env: "test" });
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.doesNotMatch(again.stdout + again.stderr, /==> /);
      assert.match(again.stdout, new RegExp(`Generated ${name} app`));
    }
  }
});

// ---- comparing compiled code ------------------------------------------------------------

// The literal table: u32 uncompressed size, zlib data of [u32 count, (u32 size, ETF)*].
function literals(data: Buffer): Buffer[] {
  const raw = data.readUInt32BE(0) === 0 ? data.subarray(4) : inflateSync(data.subarray(4));
  const out: Buffer[] = [];
  let off = 4;
  for (let i = 0; i < raw.readUInt32BE(0); i++) {
    const size = raw.readUInt32BE(off);
    out.push(raw.subarray(off + 4, off + 4 + size));
    off += 4 + size;
  }
  return out;
}

// beamix compiles with ERL_COMPILER_OPTIONS=deterministic, which reduces source paths (?FILE,
// line tables) to base names; Mix's build has the absolute path under deps/APP. Both become
// the base name, so only a path that differs is forgiven.
function withoutRoot(text: string, root: string): string {
  const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(new RegExp(`${escaped}(/[^\\s'"]*)?`, "g"), (m) => m.slice(m.lastIndexOf("/") + 1));
}

// A term with source paths reduced to base names, in canonical text.
function termWithout(etf: Buffer, root: string): string {
  let term: Term;
  try {
    term = binaryToTerm(etf);
  } catch {
    return withoutRoot(etf.toString("latin1"), root); // a fun or other opaque literal
  }
  const strip = (t: Term): Term => {
    switch (t.type) {
      case "binary":
        return { type: "binary", value: Buffer.from(withoutRoot(t.value.toString("latin1"), root), "latin1") };
      case "string":
        return { type: "string", value: withoutRoot(t.value, root) };
      case "list": {
        // A charlist path arrives as a list of integers.
        const codes = t.items.every((x) => x.type === "integer" && x.value >= 0n && x.value < 0x110000n) && t.tail === undefined && t.items.length > 0;
        if (codes) return { type: "string", value: withoutRoot(String.fromCodePoint(...t.items.map((x) => Number((x as { value: bigint }).value))), root) };
        return { type: "list", items: t.items.map(strip), ...(t.tail ? { tail: strip(t.tail) } : {}) };
      }
      case "tuple":
        return { type: "tuple", items: t.items.map(strip) };
      case "map":
        return { type: "map", entries: t.entries.map(([k, v]) => [strip(k), strip(v)]) };
      default:
        return t;
    }
  };
  return JSON.stringify(canonicalTerm(strip(term)));
}

// The line table: a header (version, flags, instructions, lines, file names), compact-encoded
// items (an i-tagged line number, or an a-tagged switch to a file index), then the file names
// (u16 length + bytes). File 0 is the module's own source, named nowhere; a deterministic
// build reduces every name to its base name, which then is file 0 too. So the table is
// compared as the (file base name, line) of every item, with file 0 read as `mainFile`.
function lineTable(data: Buffer, root: string, mainFile: string): string {
  const numLines = data.readUInt32BE(12);
  const numFnames = data.readUInt32BE(16);
  let off = 20;
  const items: [number, number][] = []; // [tag, value]
  while (items.filter(([t]) => t === 1).length < numLines) {
    const b = data[off];
    let value: number;
    if ((b & 0x08) === 0) {
      value = b >> 4;
      off += 1;
    } else if ((b & 0x10) === 0) {
      value = ((b >> 5) << 8) | data[off + 1];
      off += 2;
    } else {
      const n = (b >> 5) + 2;
      assert.ok(n < 9, "line table: extended compact integer");
      value = data.readUIntBE(off + 1, n > 6 ? 6 : n);
      off += 1 + n;
    }
    items.push([b & 7, value]);
  }
  const names: string[] = [];
  for (let i = 0; i < numFnames; i++) {
    const len = data.readUInt16BE(off);
    names.push(withoutRoot(data.subarray(off + 2, off + 2 + len).toString("utf8"), root));
    off += 2 + len;
  }
  assert.equal(off, data.length, "line table: bytes after the file names");
  let file = mainFile;
  const lines: string[] = [];
  for (const [tag, value] of items) {
    if (tag === 2) file = value === 0 ? mainFile : withoutRoot(names[value - 1], root).replace(/^.*\//, "");
    else lines.push(`${file}:${value}`);
  }
  return JSON.stringify([data.readUInt32BE(0), data.readUInt32BE(4), data.readUInt32BE(8), lines]);
}

// A code chunk, with what depends on the build directory taken out: paths in the literal
// table, in attributes and in the line table's file names, and two fingerprints of the
// module's code and literals (which embed those paths): the OldUniq of each fun in the fun
// table and the default `vsn` attribute (the module's MD5 as an integer).
function normalizedChunk(id: string, data: Buffer, root: string, module: string): string {
  switch (id) {
    case "LitT":
      return JSON.stringify(literals(data).map((l) => termWithout(l, root)));
    case "Attr": {
      const attrs = binaryToTerm(data);
      assert.equal(attrs.type, "list");
      const kept = (attrs as { items: Term[] }).items.filter((a) => {
        if (a.type !== "tuple" || a.items[0].type !== "atom" || a.items[0].value !== "vsn") return true;
        const v = a.items[1];
        return !(v.type === "list" && v.items.length === 1 && v.items[0].type === "integer");
      });
      return termWithout(termToBinary({ type: "list", items: kept }), root);
    }
    case "Line":
      return lineTable(data, root, `${module}.erl`);
    // Elixir's checker chunk: term_to_binary of maps with atom keys, whose order from OTP 26 is
    // the compiling VM's atom table order: compared as terms.
    case "ExCk":
      return termWithout(data, root);
    case "FunT": {
      const n = data.readUInt32BE(0);
      const entries: string[] = [];
      for (let i = 0; i < n; i++) entries.push(data.subarray(4 + i * 24, 4 + i * 24 + 20).toString("hex"));
      return JSON.stringify(entries);
    }
    default:
      return data.toString("hex");
  }
}

interface ModuleCode {
  module: string;
  chunks: Map<string, Buffer>;
}

async function ebinModules(ebin: string): Promise<Map<string, ModuleCode>> {
  const out = new Map<string, ModuleCode>();
  for (const f of (await readdir(ebin)).filter((f) => f.endsWith(".beam")).sort()) {
    const beam = parseBeam(await readFile(join(ebin, f)), f);
    out.set(f, { module: beamModuleName(beam) ?? f, chunks: new Map(beam.chunks.filter((c) => chunkClass(c.id) === "code").map((c) => [c.id, c.data])) });
  }
  return out;
}

test("the compiled dependencies are the modules and code mix deps.compile produces for the project", async () => {
  const closureDirs = (await fixturePackageDirs()).filter((d) => !/beacon-(1\.1|2\.0)\.0$/.test(d));
  for (const name of ["webapp", "hello_beacon"] as const) {
    const dir = await consumer(name, `${name}-prod`);
    const r = await deps(dir, ["--env", "prod"]);
    assert.equal(r.code, 0, r.stderr);

    // Mix's own build of the same closure, from the same package files and config.
    const packages = name === "webapp" ? closureDirs : closureDirs.filter((d) => /beacon-1\.2\.0$/.test(d));
    const baseline = await prepareMixProject({ consumerDir: dir, packageDirs: packages, workDir: await mkdtemp(join(work, `baseline-${name}-`)) });
    await measureMixDepsCompile(baseline);

    const apps = r.json.packages.map((p) => p.app).sort();
    // Mix 1.15+'s deps.compile also makes the project's own _build entry.
    assert.deepEqual(apps, (await readdir(join(baseline.projectDir, "_build", "prod", "lib"))).filter((a) => a !== name).sort());
    let modules = 0;
    let pathDependent = 0;
    for (const app of apps) {
      const ours = await ebinModules(join(dir, "_build", "prod", "lib", app, "ebin"));
      const theirs = await ebinModules(join(baseline.projectDir, "_build", "prod", "lib", app, "ebin"));
      assert.deepEqual([...ours.keys()], [...theirs.keys()], `${app}: modules`);
      for (const [file, a] of ours) {
        const b = theirs.get(file)!;
        assert.equal(a.module, b.module);
        assert.deepEqual([...a.chunks.keys()], [...b.chunks.keys()], `${app}/${file}: code chunks`);
        // The Code chunk itself is always the same bytes.
        assert.ok(a.chunks.get("Code")!.equals(b.chunks.get("Code")!), `${app}/${file}: Code chunk`);
        let differs = false;
        for (const [id, data] of a.chunks) {
          if (data.equals(b.chunks.get(id)!)) continue;
          if (id !== "ExCk") differs = true; // ExCk's bytes differ by atom order (OTP 26+), not by path
          assert.equal(
            normalizedChunk(id, data, "/build/source", a.module),
            normalizedChunk(id, b.chunks.get(id)!, join(baseline.projectDir, "deps", app), a.module),
            `${app}/${file}: chunk ${id} differs by more than the build directory`,
          );
        }
        if (differs) pathDependent++;
        modules++;
      }
      // The .app is the same term (same modules, applications, compile_env).
      const appFile = (root: string) => readFile(join(root, "_build", "prod", "lib", app, "ebin", `${app}.app`), "utf8");
      assert.equal(await appFile(dir), await appFile(baseline.projectDir), `${app}.app`);
    }
    assert.ok(modules >= (name === "webapp" ? 30 : 4), `${modules} modules compared`);
    // Only modules that embed a source path differ at all: the Erlang ones (line tables;
    // beacon's ?FILE) and trellis's @external_resource. Every other Elixir module is the same
    // code chunk for chunk.
    if (name === "webapp") assert.equal(pathDependent, 13, `${pathDependent} of ${modules} modules differ by their paths`);
  }
});

// ---- compile-time config ------------------------------------------------------------------

test("config that a package reads at compile time rebuilds it and its dependents; other config rebuilds nothing", async () => {
  const dir = await consumer("webapp", "webapp-config");
  const first = await deps(dir, ["--env", "test"]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.json.packages.find((p) => p.name === "mimetable")!.reads, [{ app: "mimetable", key: "statuses" }, { app: "mimetable", key: "types" }]);
  assert.deepEqual(first.json.packages.find((p) => p.name === "plugboard")!.reads, []);

  const config = join(dir, "config", "config.exs");
  const original = await readFile(config, "utf8");
  await writeFile(config, original.replace(`"text/x-webapp-log" => ["text"]`, `"text/x-webapp-log" => ["text", "log"]`));
  const check = await deps(dir, ["--env", "test", "--check"]);
  assert.equal(check.code, 1);
  assert.deepEqual(check.json.packages.filter((p) => p.status === "missing").map((p) => p.name).sort(), ["mimetable", "plugboard", "trellis"]);

  const changed = await deps(dir, ["--env", "test"]);
  assert.equal(changed.code, 0, changed.stderr);
  assert.deepEqual(built(changed.json), ["mimetable", "plugboard", "trellis"]);
  const others = changed.json.packages.filter((p) => !["mimetable", "plugboard", "trellis"].includes(p.name));
  assert.ok(others.every((p) => p.status === "present" && p.build === "unchanged"), JSON.stringify(others));
  const probe = await mix(dir, ["run", "--no-start", "-e", `IO.puts(Mimetable.type("log"))`], { env: "test" });
  assert.equal(probe.stdout.trim().split("\n").pop(), "text/x-webapp-log", probe.stdout + probe.stderr);
  assert.doesNotMatch(probe.stdout + probe.stderr, /==> /);

  // Config no package reads at compile time: no build, no write.
  await writeFile(config, (await readFile(config, "utf8")).replace("config :webapp, socket_port: 0", "config :webapp, socket_port: 0, greeting: \"hi\"\nconfig :nobody, reads: :this"));
  const unrelated = await deps(dir, ["--env", "test"]);
  assert.equal(unrelated.code, 0, unrelated.stderr);
  assert.deepEqual(built(unrelated.json), []);
  assert.equal(unrelated.json.changed, false);

  // Back to the first config: the first items are still in the store.
  await writeFile(config, original);
  const back = await deps(dir, ["--env", "test"]);
  assert.deepEqual(built(back.json), []);
  assert.deepEqual(Object.keys(statusOf(back.json)), Object.keys(statusOf(first.json)));
  assert.ok(back.json.packages.every((p) => p.status === "present"));
  // The very items of the first run, under the same identities; plugboard's and trellis's
  // outputs happen to be the same bytes for both configs, so only mimetable's _build changes.
  assert.deepEqual(back.json.packages.map((p) => p.item), first.json.packages.map((p) => p.item));
  assert.notDeepEqual(changed.json.packages.map((p) => p.item), first.json.packages.map((p) => p.item));
  assert.deepEqual(back.json.packages.filter((p) => p.build === "update").map((p) => p.name), ["mimetable"]);
  const t = await mix(dir, ["test"], { env: "test" });
  assert.equal(t.code, 0, t.stdout + t.stderr);

  // The project's items are GC roots; those of the config it no longer has are not.
  const gc = await beamix(["gc", "--store", store(), "--json"]);
  assert.equal(gc.code, 0, gc.stderr);
  const freed = (JSON.parse(gc.stdout) as { freed: { path: string }[] }).freed.map((f) => f.path).sort();
  const firstItems = new Set(first.json.packages.map((p) => p.item));
  assert.deepEqual(freed, changed.json.packages.map((p) => p.item!).filter((i) => !firstItems.has(i)).sort());
  const kept = await deps(dir, ["--env", "test"]);
  assert.deepEqual(built(kept.json), []);
});

// ---- git ----------------------------------------------------------------------------------

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await run("git", ["-c", "user.name=beamix test", "-c", "user.email=test@beamix.invalid", "-c", "init.defaultBranch=main", ...args], cwd, process.env);
  assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

test("a git dependency in mix.lock is built at its locked commit", async () => {
  const src = join(work, "git", "greeter");
  await mkdir(join(src, "lib"), { recursive: true });
  await writeFile(
    join(src, "mix.exs"),
    `defmodule Greeter.MixProject do
  use Mix.Project
  def project, do: [app: :greeter, version: "0.1.0", elixir: "~> 1.14", deps: [{:beacon, "~> 1.1"}, {:jsonish, "~> 0.3", only: :dev}]]
  def application, do: [extra_applications: [:logger]]
end
`,
  );
  const lib = (v: string) => `defmodule Greeter do\n  def version, do: "${v}"\n  def beacon?, do: Code.ensure_loaded?(:beacon)\nend\n`;
  await writeFile(join(src, "lib", "greeter.ex"), lib("locked"));
  await git(src, "init", "--quiet");
  await git(src, "add", ".");
  await git(src, "commit", "--quiet", "-m", "first");
  const locked = await git(src, "rev-parse", "HEAD");
  await writeFile(join(src, "lib", "greeter.ex"), lib("newer"));
  await git(src, "commit", "--quiet", "-am", "second");

  const dir = join(work, "projects", "gitapp");
  await mkdir(join(dir, "lib"), { recursive: true });
  await writeFile(
    join(dir, "mix.exs"),
    `defmodule Gitapp.MixProject do
  use Mix.Project
  def project, do: [app: :gitapp, version: "0.1.0", elixir: "~> 1.14", deps: [{:greeter, git: ${JSON.stringify(src)}}]]
end
`,
  );
  await writeFile(join(dir, "lib", "gitapp.ex"), "defmodule Gitapp do\n  def hello, do: Greeter.version()\nend\n");
  const lock = await lockFor([{ name: "beacon", requirement: "~> 1.1" }]);
  lock.set("greeter", { kind: "git", app: "greeter", url: src, rev: locked, opts: [] });
  await writeFile(join(dir, "mix.lock"), formatMixLock(lock));

  const r = await deps(dir, ["--env", "test"]);
  assert.equal(r.code, 0, r.stderr);
  // jsonish is only: :dev in greeter's mix.exs, and greeter is compiled in prod.
  assert.deepEqual(r.json.packages.map((p) => p.name).sort(), ["beacon", "greeter"]);
  assert.equal(await git(join(dir, "deps", "greeter"), "rev-parse", "HEAD"), locked);
  assert.equal(await git(join(dir, "deps", "greeter"), "config", "remote.origin.url"), src);
  // Mix records its git SCM for a git dependency, with the running Elixir and OTP.
  const vm = await run("elixir", ["-e", "IO.puts(System.version()); IO.puts(:erlang.system_info(:otp_release))"], dir, process.env);
  const [elixirVersion, otpRelease] = vm.stdout.trim().split("\n");
  const scm = await readFile(join(dir, "_build", "test", "lib", "greeter", ".mix", "compile.elixir_scm"));
  assert.ok(scm.equals(elixirScmManifest(elixirVersion, otpRelease, GIT_SCM_MODULE)));

  const compile = await mix(dir, ["compile"], { env: "test" });
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assertOnlyProjectCompiled(compile, "gitapp", 1);
  const hello = await mix(dir, ["run", "-e", "IO.puts(Gitapp.hello()); IO.puts(Greeter.beacon?())"], { env: "test" });
  assert.equal(hello.stdout.trim(), "locked\ntrue", hello.stdout + hello.stderr);
});

test("--hard-links links _build's files to the store items; a plain run turns them back into copies", async () => {
  const dir = await consumer("hello_beacon", "hello_beacon-links");
  const linked = await deps(dir, ["--env", "test", "--hard-links"]);
  assert.equal(linked.code, 0, linked.stderr);
  const item = linked.json.packages[0].item!;
  const built = join(dir, "_build", "test", "lib", "beacon", "ebin", "beacon.beam");
  const inStore = join(item, "lib", "erlang", "lib", "beacon-1.2.0", "ebin", "beacon.beam");
  assert.equal((await stat(built)).ino, (await stat(inStore)).ino);
  const compile = await mix(dir, ["compile"], { env: "test" });
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assertOnlyProjectCompiled(compile, "hello_beacon", 1);

  const copied = await deps(dir, ["--env", "test"]);
  assert.equal(copied.json.packages[0].build, "update");
  assert.notEqual((await stat(built)).ino, (await stat(inStore)).ino);
  assert.equal((await stat(built)).mode & 0o777, 0o644);
  assert.ok((await readFile(built)).equals(await readFile(inStore)));
});

// ---- make dependencies built in place ---------------------------------------------------------

test("make dependencies: unpacked with Hex's mtimes, and a build inside deps/APP is never taken for a changed source", async () => {
  const dir = await consumer("webapp", "webapp-make");
  const first = await deps(dir, ["--env", "test"]);
  assert.equal(first.code, 0, first.stderr);
  const codec = join(dir, "deps", "wirecodec");

  // As Hex leaves it: one whole-second mtime for the package's files, so erlang.mk's make has
  // nothing to do on a fresh unpack (make -q exits 0 when the target is up to date).
  const mtimes = new Set<number>();
  for (const f of ["Makefile", "ebin/wirecodec.app", "src/wirecodec.erl", "src/wirecodec.app.src", "include/wirecodec.hrl"]) mtimes.add((await stat(join(codec, f))).mtimeMs);
  assert.equal(mtimes.size, 1, "every packaged file has the same mtime");
  assert.equal([...mtimes][0] % 1000, 0, "in whole seconds");
  const q = await run("make", ["-q"], codec, cleanEnv({ ERL_LIBS: "" }));
  assert.equal(q.code, 0, `make -q in a fresh deps/wirecodec\n${q.stdout}${q.stderr}`);

  // Mix's make manager, for an environment beamix did not prepare, builds inside deps/APP:
  // ebin/ gets beams and a new wirecodec.app.
  await rm(join(codec, "ebin", "wirecodec.app"));
  const made = await run("make", [], codec, cleanEnv({ ERL_LIBS: "", IS_DEP: "1" }));
  assert.equal(made.code, 0, made.stdout + made.stderr);
  assert.match(await readFile(join(codec, "ebin", "wirecodec.app"), "utf8"), /1\.0\.0/);
  // deps/wirecodec is not rewritten: its .fetch (which Mix up to 1.16 compares with each
  // environment's compile.fetch) or, on later Mix, its .hex keeps its mtime.
  const marker = markers.depsFetch ? ".fetch" : ".hex";
  const fetchBefore = (await stat(join(codec, marker))).mtimeMs;

  for (let round = 1; round <= 3; round++) {
    const d = await deps(dir, ["--env", "test"]);
    assert.equal(d.code, 0, d.stderr);
    const w = d.json.packages.find((p) => p.name === "wirecodec")!;
    assert.deepEqual({ deps: w.deps, build: w.build }, { deps: "unchanged", build: "unchanged" }, `round ${round}`);
    assert.equal((await stat(join(codec, marker))).mtimeMs, fetchBefore, `round ${round}: ${marker} kept, so no environment rebuilds`);
  }

  // A changed source is still put right.
  await writeFile(join(codec, "src", "wirecodec.erl"), "% edited\n");
  const repaired = await deps(dir, ["--env", "test"]);
  assert.equal(repaired.json.packages.find((p) => p.name === "wirecodec")!.deps, "update");
});
