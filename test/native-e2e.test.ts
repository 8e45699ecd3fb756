// System libraries and native facts through the CLI, on the native fixture packages
// (test/fixtures/native-packages) served as a signed registry on loopback: a NIF linked against
// the host's libyaml builds with its automatic definition (yaml.h found in its C source) and loads
// from the store; a missing system header fails before the build in one line; each item records
// the libraries its native code needs, its substitute record says so, and a substitute whose
// native code cannot load on this host is refused with one line naming the library and built.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { makeRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { fixturesDir } from "./support/fixture-registry.ts";
import { openStore } from "../src/store/store.ts";
import { formatRecord, parseRecord } from "../src/substitute/format/record.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let secretKey: string;
let publicKey: string;

const nativeDir = join(fixturesDir, "native-packages");
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CONFIG_DIR: join(work, "config"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ERL_LIBS: "" });
const store = (name: string) => join(work, "stores", name);

interface BuildJson {
  roots: { name: string; path: string | null }[];
  built: number;
  substituted: number;
  failed: { name: string; message: string }[];
}

async function bx(args: string[]): Promise<CliResult> {
  return beamix([...args, "--repo", server.url, "--public-key", registry.publicKeyPath], { env: env(), timeoutMs: 300_000 });
}

async function build(storeName: string, extra: string[] = []): Promise<CliResult & { json: BuildJson }> {
  const r = await bx(["build", "yamlcount", "--store", store(storeName), "--json", ...extra]);
  try {
    return { ...r, json: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`beamix build printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

async function onlyItem(dir: string) {
  const s = await openStore(dir);
  try {
    const items = s.listItems();
    assert.equal(items.length, 1);
    return items[0];
  } finally {
    await s.close();
  }
}

// Definition directories: one adds a header nobody has, one links the NIF against a library
// made inside the build and not installed (so the item needs a library no host has).
async function definitionDir(name: string, body: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "yamlcount.ts"), `export default ${body};\n`);
  return dir;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-native-e2e-"));
  registry = await makeRegistry(join(work, "repo"), (await readdir(nativeDir)).filter((d) => d.startsWith("yamlcount-")).map((d) => join(nativeDir, d)));
  server = await startStaticServer({ root: registry.dir });
  const keys = await beamix(["key", "generate", "native-e2e-1", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

test("a NIF linked against the host's libyaml builds with its automatic definition and loads from the store", async () => {
  const r = await build("a");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 1);
  const item = await onlyItem(store("a"));
  const deriver = item.deriver as { native: { objects: string[]; needed: string[]; glibc: string }; derivation: { system: { header: string; version: string }[] } };
  assert.deepEqual(deriver.native.objects, ["lib/erlang/lib/yamlcount-0.1.0/priv/yamlcount.so"]);
  assert.ok(deriver.native.needed.includes("libyaml-0.so.2"), JSON.stringify(deriver.native));
  assert.match(deriver.native.glibc, /^2\.\d+/);
  assert.equal(deriver.derivation.system[0].header, "yaml.h");
  assert.match(deriver.derivation.system[0].version, /^debian:0\.2\./);

  const libs = join(item.path, "lib", "erlang", "lib");
  const run = await runCommand("elixir", ["-e", 'IO.inspect({Yamlcount.count_events("a: 1\\n"), Yamlcount.libyaml_version()})'], { env: { ...process.env, ERL_LIBS: libs }, timeoutMs: 60_000 });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^\{\{:ok, 8\}, "0\.2\.\d+"\}$/m);
});

test("beamix import hex writes the system inputs it found: the imported definition gives the same item", async () => {
  const defs = join(work, "imported");
  const imp = await bx(["import", "hex", "yamlcount", "-o", defs]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(await readFile(join(defs, "yamlcount.ts"), "utf8"), /^  systemInputs: \[\{ header: "yaml\.h", library: "yaml", debian: "libyaml-dev" \}\],$/m);
  const r = await build("a", ["-L", defs]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 0);
  assert.equal(r.json.roots[0].path, (await onlyItem(store("a"))).path);
});

test("beamix deps finds the same item for a Mix project that depends on it", async () => {
  const proj = join(work, "proj");
  await mkdir(proj, { recursive: true });
  await writeFile(join(proj, "mix.exs"), 'defmodule Proj.MixProject do\n  use Mix.Project\n  def project, do: [app: :proj, version: "0.1.0", deps: [{:yamlcount, "~> 0.1"}]]\nend\n');
  const lock = await bx(["lock", proj]);
  assert.equal(lock.code, 0, lock.stderr);
  const deps = await bx(["deps", proj, "--env", "prod", "--store", store("a")]);
  assert.equal(deps.code, 0, deps.stderr);
  assert.match(deps.stderr, /^0 built, 1 already present, /m);
});

test("a missing system header fails before the build, in one line naming it and its Debian package", async () => {
  const defs = await definitionDir("defs-missing", '(d) => ({ ...d, systemInputs: [...(d.systemInputs ?? []), { header: "beamix_absent_test.h", debian: "libbeamix-absent-dev" }] })');
  const r = await bx(["build", "yamlcount", "--store", store("missing"), "-L", defs]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^.*yamlcount 0\.1\.0: system header beamix_absent_test\.h not found by the C compiler \(cc -E\); install the Debian package libbeamix-absent-dev$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /building yamlcount|    at |==> /);
  const s = await openStore(store("missing"));
  try {
    assert.deepEqual(s.listItems(), []);
  } finally {
    await s.close();
  }
});

test("substitutes: the record says what the native code needs; one needing a missing library is refused and built", async () => {
  const cache = join(work, "cache");
  const gone = await definitionDir(
    "defs-gone",
    `(d) => ({ ...d, arguments: { ...d.arguments,
      env: { LDLIBS: "-L/build/gone -Wl,--no-as-needed -lbeamixgone -Wl,-rpath,/build/gone" },
      phases: [{ op: "add", name: "gone-lib", before: "build", shell: "mkdir -p /build/gone && printf 'int beamix_gone(void) { return 1; }\\\\n' > /build/gone/gone.c && cc -shared -fPIC -Wl,-soname,libbeamixgone.so.1 -o /build/gone/libbeamixgone.so.1 /build/gone/gone.c && ln -s libbeamixgone.so.1 /build/gone/libbeamixgone.so" }] } })`,
  );
  for (const [storeName, extra] of [["a", []], ["gone", ["-L", gone]]] as const) {
    const pub = await bx(["publish", "yamlcount", "--store", store(storeName), "--to", `file://${cache}`, "--sign-with", secretKey, ...extra]);
    assert.equal(pub.code, 0, pub.stderr);
  }
  const plain = await onlyItem(store("a"));
  const goneItem = await onlyItem(store("gone"));
  const recordFile = (drvHash: string) => join(cache, `${drvHash}.beamixinfo`);
  const plainRecord = parseRecord(await readFile(recordFile(plain.drvHash), "utf8"), "plain");
  assert.deepEqual(plainRecord.needed, ["libc.so.6", "libyaml-0.so.2"]);
  assert.match(plainRecord.glibc ?? "", /^2\.\d+$/);
  assert.deepEqual(parseRecord(await readFile(recordFile(goneItem.drvHash), "utf8"), "gone").needed, ["libbeamixgone.so.1", "libc.so.6", "libyaml-0.so.2"]);

  const trusting = ["--substituters", `file://${cache}`, "--trusted-key", publicKey];
  // The plain NIF needs only what this host has: substituted, and its native facts recorded.
  const ok = await build("b", trusting);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.substituted, 1, ok.stderr);
  assert.deepEqual((((await onlyItem(store("b"))).deriver as { native: { needed: string[] } }).native.needed), ["libc.so.6", "libyaml-0.so.2"]);

  // The other needs libbeamixgone.so.1, which no loader here finds: refused from its record, built.
  const refused = await build("c", ["-L", gone, ...trusting]);
  assert.equal(refused.code, 0, refused.stderr);
  assert.equal(refused.json.substituted, 0);
  assert.equal(refused.json.built, 1);
  assert.match(refused.stderr, new RegExp(`^cannot substitute yamlcount 0\\.1\\.0 from file://${cache}: its native code needs libbeamixgone\\.so\\.1, which this host's dynamic loader does not find; building it instead$`, "m"));

  // The Needed line is not signed: a record without it is still refused, once the tree is read.
  const record = parseRecord(await readFile(recordFile(goneItem.drvHash), "utf8"), "gone");
  delete record.needed;
  await writeFile(recordFile(goneItem.drvHash), formatRecord(record));
  const after = await build("d", ["-L", gone, ...trusting]);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.json.built, 1);
  assert.match(after.stderr, /^cannot substitute yamlcount 0\.1\.0 from file:\/\/.*: lib\/erlang\/lib\/yamlcount-0\.1\.0\/priv\/yamlcount\.so needs libbeamixgone\.so\.1, which this host's dynamic loader does not find; building it instead$/m);
  // A record claiming a newer C library than this host's is refused before downloading.
  const newer = { ...parseRecord(await readFile(recordFile(plain.drvHash), "utf8"), "plain"), glibc: "9.99" };
  await writeFile(recordFile(plain.drvHash), formatRecord(newer));
  const glibc = await build("e", trusting);
  assert.equal(glibc.json.built, 1, glibc.stderr);
  assert.match(glibc.stderr, /^cannot substitute yamlcount 0\.1\.0 from file:\/\/.*: its native code needs glibc 9\.99, this host has 2\.\d+; building it instead$/m);
});
