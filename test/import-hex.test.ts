// `beamix import hex`: definition modules that reproduce the automatic definitions exactly (same
// derivation hashes, same store paths), so that only what a user edits changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { loadDefinitionFile } from "../src/derivation/definition-file.ts";
import type { Definition } from "../src/derivation/definition.ts";
import { importHex, nativeToolsNote } from "../src/import/hex.ts";
import { writeDefinitionModules } from "../src/import/write-modules.ts";
import { planBuild, type Plan } from "../src/realize/plan.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";
import { openStore, type Store } from "../src/store/store.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let repos: Map<string, HexRepo>;
let tc: Toolchain;
let store: Store;

const CLOSURE = ["beacon", "mimetable", "plugboard", "sockadapt", "trellis"];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-import-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  repos = new Map([["hexpm", new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lib-cache") })]]);
  tc = await detectToolchain({ cacheDir: join(work, "tc-cache") });
  store = await openStore(join(work, "lib-store"));
});

after(async () => {
  await store?.close();
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const repoArgs = () => ["--repo", server.url, "--public-key", registry.publicKeyPath];
const common = () => ["--store", join(work, "store"), ...repoArgs()];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

const plan = (specs: string[], dirs: string[] = []): Promise<Plan> => planBuild(specs, { repos, toolchain: tc, store, definitionDirs: dirs });

async function loaded(path: string): Promise<Definition> {
  const o = await loadDefinitionFile(path);
  assert.equal(o.kind, "definition", `${path} exports a whole definition`);
  return (o as { definition: Definition }).definition;
}

test("--recursive: one module per closure package; each loads as the planner's automatic definition, and -L changes no hash", async () => {
  const imported = await importHex("trellis", { repos, recursive: true });
  assert.deepEqual(imported.map((p) => `${p.name} ${p.version}`), ["beacon 1.2.0", "mimetable 1.0.0", "plugboard 0.4.0", "sockadapt 0.1.2", "trellis 0.9.0"]);
  const dir = join(work, "lib-defs");
  const written = await writeDefinitionModules(dir, imported);
  assert.deepEqual((await readdir(dir)).sort(), CLOSURE.map((n) => `${n}.ts`));

  const automatic = await plan(["trellis"]);
  const overridden = await plan(["trellis"], [dir]);
  assert.deepEqual([...automatic.packages.keys()].sort(), CLOSURE);
  for (const w of written) {
    const def = await loaded(w.path);
    assert.deepEqual(def, automatic.packages.get(w.name)!.definition, `${w.name}: the module is the automatic definition`);
    assert.equal(overridden.packages.get(w.name)!.drvHash, automatic.packages.get(w.name)!.drvHash, `${w.name}: same derivation hash with -L`);
  }
  const trellis = imported.find((p) => p.name === "trellis")!;
  assert.equal(trellis.sourceUrl, `${server.url}/tarballs/trellis-0.9.0.tar`);
  assert.match(trellis.text, /^\/\/ Tarball: http:\/\/127\.0\.0\.1:\d+\/tarballs\/trellis-0\.9\.0\.tar$/m);
  assert.match(trellis.text, /^\/\/ Licenses: Apache-2\.0$/m);
  assert.match(trellis.text, /^\/\/ A tiny web framework/m);
  assert.match(trellis.text, /\{ name: "jsonish", app: "jsonish", optional: true, repo: "hexpm" \}, \/\/ ~> 0\.3$/m);
});

test("native code is noted, not added to nativeInputs: the NIF package keeps its automatic hash", async () => {
  const [nifsum] = await importHex("nifsum", { repos });
  assert.deepEqual(nifsum.definition.nativeInputs, []);
  const lines = nifsum.text.split("\n");
  const note = lines.filter((l) => l.startsWith("  // ")).map((l) => l.slice(5)).join(" ");
  assert.match(note, /^Native code: the package ships c_src\/ and Makefile, so its build likely runs make and a C compiler .* changes its hash\.$/);
  assert.equal(lines[lines.findLastIndex((l) => l.startsWith("  // ")) + 1], "  nativeInputs: [],");
  const dir = join(work, "lib-nif");
  await writeDefinitionModules(dir, [nifsum]);
  const [automatic, overridden] = [await plan(["nifsum"]), await plan(["nifsum"], [dir])];
  assert.equal(overridden.packages.get("nifsum")!.drvHash, automatic.packages.get("nifsum")!.drvHash);

  // An erlang.mk package's Makefile is its build system: nothing to note.
  const [wirecodec] = await importHex("wirecodec", { repos });
  assert.equal(wirecodec.definition.buildSystem, "make");
  assert.doesNotMatch(wirecodec.text, /Native code/);
  assert.equal(nativeToolsNote({ files: ["src", "src/a.erl", "rebar.config"] }, "rebar3"), undefined);
  assert.match(nativeToolsNote({ files: ["c_src/x.c", "Makefile"] }, "make")!, /ships c_src\/ and Makefile, so its build likely runs make and a C compiler/);
  assert.match(nativeToolsNote({ files: ["CMakeLists.txt", "mix.exs"] }, "mix")!, /runs cmake/);
});

test("CLI: an imported closure builds to exactly the store path of the automatic one", async () => {
  const dir = join(work, "defs");
  const r = await beamix(["import", "hex", "trellis", "--recursive", "-o", dir, "--json", ...repoArgs()], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const listed = JSON.parse(r.stdout) as { name: string; version: string; path: string }[];
  assert.deepEqual(listed.map((l) => l.name), CLOSURE);
  assert.deepEqual(listed.map((l) => l.path), CLOSURE.map((n) => join(dir, `${n}.ts`)));

  const build = (extra: string[]) => beamix(["build", "trellis", ...extra, ...common(), "--json"], { env: env(), timeoutMs: 600_000 });
  const plain = await build([]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^5 built, 0 already present, 0 failed$/m);
  const withDefs = await build(["-L", dir]);
  assert.equal(withDefs.code, 0, withDefs.stderr);
  const rootPath = (out: string) => (JSON.parse(out) as { roots: { path: string }[] }).roots[0].path;
  assert.equal(rootPath(withDefs.stdout), rootPath(plain.stdout));
  assert.match(withDefs.stderr, /^0 built, 5 already present, 0 failed$/m);
});

test("CLI: editing one module changes that package and its dependents only", async () => {
  const dir = join(work, "edit-defs");
  const r = await beamix(["import", "hex", "trellis", "-r", "-o", dir, ...repoArgs()], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), CLOSURE.map((n) => join(dir, `${n}.ts`)));

  const paths = async (extra: string[]) => {
    const p = await beamix(["path", ...CLOSURE, ...extra, ...common(), "--json"], { env: env() });
    assert.ok(p.stdout, p.stderr);
    return new Map((JSON.parse(p.stdout) as { name: string; path: string }[]).map((x) => [x.name, x.path]));
  };
  const before = await paths([]);
  assert.deepEqual(await paths(["-L", dir]), before, "unedited modules change nothing");

  const file = join(dir, "beacon.ts");
  const text = await readFile(file, "utf8");
  assert.match(text, /^ {4}env: \{\},$/m);
  await writeFile(file, text.replace(/^ {4}env: \{\},$/m, `    env: { BEACON_FLAVOUR: "edited" },`));
  const after = await paths(["-L", dir]);
  const changed = CLOSURE.filter((n) => after.get(n) !== before.get(n));
  assert.deepEqual(changed, ["beacon", "plugboard", "trellis"]);
});

test("CLI: without --recursive only the package itself, into the current directory; aliases name the Hex package", async () => {
  const cwd = join(work, "single");
  await mkdir(cwd);
  const r = await beamix(["import", "hex", "plugboard@~> 0.4", ...repoArgs()], { env: env(), cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${join(cwd, "plugboard.ts")}\n`);
  assert.deepEqual(await readdir(cwd), ["plugboard.ts"]);
  const def = await loaded(join(cwd, "plugboard.ts"));
  assert.equal(def.version, "0.4.0");
  assert.deepEqual(def.inputs.map((i) => i.name).sort(), ["beacon", "mimetable"]);

  const a = await beamix(["import", "hex", "erlang-beacon@~> 1.1", "-o", cwd, ...repoArgs()], { env: env() });
  assert.equal(a.code, 0, a.stderr);
  assert.equal((await loaded(join(cwd, "beacon.ts"))).version, "1.2.0");
});

test("CLI: existing modules are kept unless --force, and a refused import writes nothing", async () => {
  const dir = join(work, "force");
  const first = await beamix(["import", "hex", "trellis", "-r", "-o", dir, ...repoArgs()], { env: env() });
  assert.equal(first.code, 0, first.stderr);

  await writeFile(join(dir, "beacon.ts"), "// my own beacon\nexport default (d) => d;\n");
  await rm(join(dir, "trellis.ts"));
  const again = await beamix(["import", "hex", "trellis", "-r", "-o", dir, ...repoArgs()], { env: env() });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^beamix: .*force: beacon\.ts, mimetable\.ts, plugboard\.ts, sockadapt\.ts already exist; use --force to overwrite\n$/);
  assert.equal(await readFile(join(dir, "beacon.ts"), "utf8"), "// my own beacon\nexport default (d) => d;\n");
  await assert.rejects(stat(join(dir, "trellis.ts")), { code: "ENOENT" });

  const forced = await beamix(["import", "hex", "trellis", "-r", "-o", dir, "--force", ...repoArgs()], { env: env() });
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await loaded(join(dir, "beacon.ts"))).version, "1.2.0");
  assert.equal((await loaded(join(dir, "trellis.ts"))).version, "0.9.0");
  assert.deepEqual((await readdir(dir)).sort(), CLOSURE.map((n) => `${n}.ts`), "no temporary files are left");

  // A module of another kind for the package would be loaded instead: refused even with --force.
  await writeFile(join(dir, "beacon.mjs"), "export default (d) => d;\n");
  const shadow = await beamix(["import", "hex", "beacon", "-o", dir, "--force", ...repoArgs()], { env: env() });
  assert.equal(shadow.code, 1);
  assert.match(shadow.stderr, /beacon\.mjs already defines the package/);

  const file = join(work, "not-a-dir");
  await writeFile(file, "");
  const blocked = await beamix(["import", "hex", "beacon", "-o", file, ...repoArgs()], { env: env() });
  assert.equal(blocked.code, 1);
  assert.match(blocked.stderr, /cannot create definition directory .*not-a-dir: a file is in the way/);
});

test("CLI: an unknown package is the resolver's error, and nothing is written", async () => {
  const dir = join(work, "none");
  const r = await beamix(["import", "hex", "nosuch", "-o", dir, ...repoArgs()], { env: env() });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "beamix: cannot resolve dependencies:\nyou require nosuch, but there is no package nosuch in repository hexpm.\n");
  await assert.rejects(stat(dir), { code: "ENOENT" });

  const unmatched = await beamix(["import", "hex", "beacon@~> 9.0", "-o", dir, ...repoArgs()], { env: env() });
  assert.equal(unmatched.code, 1);
  assert.match(unmatched.stderr, /no release matches; beacon has 2\.0\.0, 1\.2\.0, 1\.1\.0/);
});
