// Precompiled NIFs through the CLI: the elixir_make + cc_precompiler shape (ccnif) and the
// rustler_precompiled shape (rsnif), with their stand-in libraries, from
// test/fixtures/native-packages. The test builds each archive from C, serves it on loopback,
// writes the packages' checksum files and URLs, and packs a registry of them. With automatic
// definitions beamix fetches each archive outside the sandbox, verified against the package's
// own checksum file, and the NIFs load from the store; asked to, ccnif builds from source; a
// served archive that does not match its checksum fails in one line.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { openStore } from "../src/store/store.ts";

const run = promisify(execFile);
const PACKAGES = ["elixir_make-0.1.0", "cc_precompiler-0.1.0", "rustler_precompiled-0.1.0", "ccnif-0.1.0", "rsnif-0.1.0"];

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let artefacts: StaticServer;
let ccArchive: string; // its path under the artefacts root

const env = (cache = "dl") => ({ BEAMIX_CACHE_DIR: join(work, cache), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CONFIG_DIR: join(work, "config"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ERL_LIBS: "" });
const store = (name: string) => join(work, "stores", name);

async function build(storeName: string, specs: string[], extra: string[] = [], cache?: string): Promise<CliResult & { json: { built: number; roots: { name: string; path: string | null }[]; failed: { name: string; message: string }[] } }> {
  const r = await beamix(["build", ...specs, "--store", store(storeName), "--repo", hexServer.url, "--public-key", registry.publicKeyPath, "--json", ...extra], { env: env(cache), timeoutMs: 600_000 });
  try {
    return { ...r, json: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`beamix build printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// A NIF library from C, packed as the libraries pack theirs: a .tar.gz holding the one file.
async function archive(source: string, soName: string, out: string, cflags: string[] = []): Promise<Buffer> {
  const erts = (await run("erl", ["-noshell", "-eval", 'io:format("~ts/erts-~ts/include", [code:root_dir(), erlang:system_info(version)]), halt().'])).stdout;
  const dir = await mkdtemp(join(work, "so-"));
  await run("cc", ["-O2", "-std=c99", "-fPIC", "-shared", `-I${erts}`, ...cflags, "-o", join(dir, soName), source]);
  await mkdir(join(out, ".."), { recursive: true });
  await run("tar", ["--mtime=@1", "--owner=0", "--group=0", "--numeric-owner", "-czf", out, "-C", dir, soName]);
  return readFile(out);
}

async function itemOf(storeName: string, name: string): Promise<string> {
  const s = await openStore(store(storeName));
  try {
    return s.listItems().find((i) => i.name === name)!.path;
  } finally {
    await s.close();
  }
}

async function nifsSay(items: string[], expr: string): Promise<string> {
  const libs = items.map((i) => join(i, "lib", "erlang", "lib")).join(":");
  const r = await runCommand("elixir", ["-e", `IO.inspect(${expr})`], { env: { ...process.env, ERL_LIBS: libs }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-precompiled-e2e-"));
  const facts = (await run("erl", ["-noshell", "-eval", 'io:format("~s ~s", [erlang:system_info(nif_version), erlang:system_info(system_architecture)]), halt().'])).stdout.split(" ");
  const [nif, arch] = facts;
  const [cpu, , os, abi] = arch.split("-");
  artefacts = await startStaticServer({ root: join(work, "artefacts") });
  const pkgs = join(work, "pkgs");
  for (const p of PACKAGES) await cp(join(fixturesDir, "native-packages", p), join(pkgs, p), { recursive: true });

  // elixir_make + cc_precompiler: APP-nif-NIF-TARGET-VERSION.tar.gz, TARGET without the vendor.
  const ccName = `ccnif-nif-${nif}-${cpu}-${os}-${abi}-0.1.0.tar.gz`;
  ccArchive = join(work, "artefacts", "cc", ccName);
  const cc = await archive(join(pkgs, "ccnif-0.1.0", "c_src", "ccnif.c"), "ccnif.so", ccArchive, ["-DCCNIF_PRECOMPILED"]);
  const decoy = `ccnif-nif-${nif}-riscv64-linux-gnu-0.1.0.tar.gz`;
  await writeFile(join(pkgs, "ccnif-0.1.0", "checksum.exs"), `%{\n  "${ccName}" => "sha256:${sha256(cc)}",\n  "${decoy}" => "sha256:${"0".repeat(64)}",\n}\n`);
  const mixExs = join(pkgs, "ccnif-0.1.0", "mix.exs");
  await writeFile(mixExs, (await readFile(mixExs, "utf8")).replace("__BASE_URL__", `${artefacts.url}/cc`));

  // rustler_precompiled: libCRATE-vVERSION-nif-NIF-TRIPLE.so.tar.gz under BASE_URL.
  const rsLib = `librsnif-v0.1.0-nif-${nif}-${cpu}-unknown-${os}-${abi}`;
  const rs = await archive(join(pkgs, "rsnif-0.1.0", "native", "rsnif", "rsnif.c"), `${rsLib}.so`, join(work, "artefacts", "rs", "v0.1.0", `${rsLib}.so.tar.gz`));
  await writeFile(join(pkgs, "rsnif-0.1.0", "checksum-Elixir.Rsnif.exs"), `%{\n  "${rsLib}.so.tar.gz" => "sha256:${sha256(rs)}"\n}\n`);
  const rsEx = join(pkgs, "rsnif-0.1.0", "lib", "rsnif.ex");
  await writeFile(rsEx, (await readFile(rsEx, "utf8")).replace("__BASE_URL__", `${artefacts.url}/rs`));

  registry = await makeRegistry(join(work, "repo"), PACKAGES.map((p) => join(pkgs, p)));
  hexServer = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await hexServer?.close();
  await artefacts?.close();
  await rm(work, { recursive: true, force: true });
});

test("automatic definitions: each archive is fetched outside the sandbox and verified; the NIFs load from the store", async () => {
  const r = await build("a", ["ccnif", "rsnif"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 5, r.stderr); // the two NIFs and the three stand-in libraries
  const ccnif = await itemOf("a", "ccnif");
  const rsnif = await itemOf("a", "rsnif");
  assert.equal(await nifsSay([ccnif, rsnif], "{Ccnif.popcount(<<255, 1, 0>>), Ccnif.built_from(), Rsnif.add(40, 2)}"), "{9, :precompiled, 42}");
  // The archives are kept in beamix's cache under their checksums, for the next build.
  const kept = await readdir(join(work, "dl", "precompiled"));
  assert.equal(kept.length, 2);
  assert.ok(kept.includes(sha256(await readFile(ccArchive))));
  const s = await openStore(store("a"));
  try {
    const def = (s.listItems().find((i) => i.name === "ccnif")!.deriver as { derivation: { definition: { precompiledNif: string } } }).derivation.definition;
    assert.equal(def.precompiledNif, "download");
  } finally {
    await s.close();
  }
});

test("beamix import hex writes precompiledNif: the imported definition gives the same item", async () => {
  const defs = join(work, "imported");
  const imp = await beamix(["import", "hex", "ccnif", "-o", defs, "--repo", hexServer.url, "--public-key", registry.publicKeyPath], { env: env() });
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(await readFile(join(defs, "ccnif.ts"), "utf8"), /^  precompiledNif: "download",$/m);
  const r = await build("a", ["ccnif"], ["-L", defs]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 0);
  assert.equal(r.json.roots[0].path, await itemOf("a", "ccnif"));
});

test("built from source when a definition asks: another identity, the NIF made here", async () => {
  const defs = join(work, "defs-source");
  await mkdir(defs, { recursive: true });
  await writeFile(join(defs, "ccnif.ts"), 'export default (d) => ({ ...d, precompiledNif: "build" });\n');
  const r = await build("a", ["ccnif"], ["-L", defs]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 1, r.stderr);
  const fromSource = r.json.roots[0].path!;
  const s = await openStore(store("a"));
  try {
    assert.equal(s.listItems().filter((i) => i.name === "ccnif").length, 2, "the downloaded and the built NIF are two items");
  } finally {
    await s.close();
  }
  assert.equal(await nifsSay([fromSource], "{Ccnif.popcount(<<255, 1, 0>>), Ccnif.built_from()}"), "{9, :source}");

  await writeFile(join(defs, "rsnif.ts"), 'export default (d) => ({ ...d, precompiledNif: "build" });\n');
  const rs = await build("a", ["rsnif"], ["-L", defs]);
  assert.notEqual(rs.code, 0);
  assert.match(rs.stderr, /^failed: rsnif 0\.1\.0: building a rustler_precompiled NIF from source needs a Rust toolchain and its vendored crates, which beamix does not provide; use precompiledNif "download"$/m);
});

test("a served archive that does not match the package's checksum fails the build in one line", async () => {
  const good = await readFile(ccArchive);
  await writeFile(ccArchive, Buffer.concat([good, Buffer.from("tampered")]));
  try {
    const r = await build("tampered", ["ccnif"], [], "dl-empty");
    assert.notEqual(r.code, 0);
    const line = new RegExp(`^failed: ccnif 0\\.1\\.0: the precompiled archive ${artefacts.url}/cc/ccnif-nif-[0-9.]+-[a-z0-9_]+-linux-gnu-0\\.1\\.0\\.tar\\.gz has SHA-256 [0-9a-f]{64}, its checksum file says ${sha256(good)}$`, "m");
    assert.match(r.stderr, line);
    assert.doesNotMatch(r.stderr, /    at /);
  } finally {
    await writeFile(ccArchive, good);
  }
});
