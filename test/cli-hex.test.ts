// End to end through the CLI: the fixture corpus is packed with `beamix hex pack`, signed into a
// registry with `beamix hex registry build`, served on loopback and read back with `beamix hex
// info`, the client and `beamix hex unpack`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix } from "./support/cli.ts";
import { fixturePackageDirs, testKeyPair } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { readTarball } from "../src/hex/tarball.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";

let work: string;
let repoDir: string;
let server: StaticServer;
const packed = new Map<string, { metadata: HexMetadata; outerChecksum: string; sourceDir: string }>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-cli-hex-"));
  repoDir = join(work, "repo");
  for (const dir of await fixturePackageDirs()) {
    const r = await beamix(["hex", "pack", dir, "-o", join(repoDir, "tarballs") + "/", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string; version: string; path: string; outerChecksum: string };
    const read = readTarball(await readFile(out.path), { file: out.path, expectedOuterChecksum: out.outerChecksum });
    assert.equal(`${read.metadata.name}-${read.metadata.version}.tar`, out.path.split("/").pop());
    packed.set(`${out.name}-${out.version}`, { metadata: read.metadata, outerChecksum: out.outerChecksum, sourceDir: dir });
  }
  const keys = testKeyPair();
  await writeFile(join(work, "key.pem"), keys.privateKeyPem, { mode: 0o600 });
  const built = await beamix(["hex", "registry", "build", repoDir, "--private-key", join(work, "key.pem")]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /repository hexpm: 10 packages, 12 releases/);
  server = await startStaticServer({ root: repoDir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const cacheEnv = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

test("hex pack gives the same checksum twice and from another path with other mtimes", async () => {
  const moved = join(work, "elsewhere", "some", "deeper", "path");
  for (const name of ["beacon-1.2.0", "wireserve-1.0.0", "trellis-0.9.0", "confetti-0.3.0"]) {
    const orig = packed.get(name)!;
    const copy = join(moved, name);
    await cp(orig.sourceDir, copy, { recursive: true });
    for (const f of await readdir(copy, { recursive: true })) await utimes(join(copy, f), 1e9, 1e9);
    for (const dir of [orig.sourceDir, copy]) {
      const r = await beamix(["hex", "pack", dir, "-o", join(work, `again-${name}.tar`), "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).outerChecksum, orig.outerChecksum, `${name} from ${dir}`);
    }
  }
});

test("hex info reads every package back from the loopback registry", async () => {
  const byName = new Map<string, HexMetadata[]>();
  for (const { metadata } of packed.values()) byName.set(metadata.name, [...(byName.get(metadata.name) ?? []), metadata]);
  for (const [name, releases] of byName) {
    const r = await beamix(["hex", "info", name, "--repo", server.url, "--public-key", join(repoDir, "public_key"), "--json"], { env: cacheEnv() });
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { name: string; repository: string; releases: { version: string; outerChecksum: string; dependencies: { package: string; app: string; requirement: string; optional: boolean }[] }[] };
    assert.equal(info.name, name);
    assert.equal(info.repository, "hexpm");
    assert.deepEqual(info.releases.map((x) => x.version), releases.map((m) => m.version).sort().reverse());
    for (const rel of info.releases) {
      const m = releases.find((x) => x.version === rel.version)!;
      assert.equal(rel.outerChecksum, packed.get(`${name}-${rel.version}`)!.outerChecksum);
      // In package name order, as mix hex.registry build lists them.
      const expected = [...m.requirements].sort((a, b) => (a.name < b.name ? -1 : 1)).map((q) => ({ package: q.name, app: q.app, requirement: q.requirement, optional: q.optional }));
      const got = rel.dependencies.map((d) => ({ package: d.package, app: d.app, requirement: d.requirement, optional: d.optional }));
      assert.deepEqual(got, expected, `${name} ${rel.version}`);
    }
  }
  // The shapes the corpus promises are visible through the registry.
  assert.deepEqual([...packed.keys()].filter((k) => k.startsWith("beacon-")).sort(), ["beacon-1.1.0", "beacon-1.2.0", "beacon-2.0.0"]);
  assert.equal(packed.get("confetti-0.3.0")!.metadata.app, "confetti_app");
  const sockadapt = packed.get("sockadapt-0.1.2")!.metadata.requirements;
  assert.ok(sockadapt.length > 0 && sockadapt.every((q) => q.optional));

  const text = await beamix(["hex", "info", "trellis", "--repo", server.url, "--public-key", join(repoDir, "public_key")], { env: cacheEnv() });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^trellis \(repository hexpm\)\n  0\.9\.0\n/);
  assert.match(text.stdout, /jsonish ~> 0\.3 {2}\(optional\)/);
});

test("tarballs fetched through the client unpack to the packed sources", async () => {
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: await readFile(join(repoDir, "public_key"), "utf8"), cacheDir: join(work, "client-cache") });
  for (const [key, { metadata, outerChecksum, sourceDir }] of packed) {
    const fetched = await repo.tarball(metadata.name, metadata.version);
    assert.equal(fetched.outerChecksum, outerChecksum);
    const dest = join(work, "unpacked", key);
    const r = await beamix(["hex", "unpack", fetched.path, dest, "--checksum", outerChecksum, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: string[] }).files;
    assert.ok(files.length > 0);
    for (const f of files) {
      assert.deepEqual(await readFile(join(dest, f)), await readFile(join(sourceDir, f)), `${key}: ${f}`);
    }
  }
});

test("a registry served as a hexpm mirror through HEX_MIRROR is still verified", async () => {
  const env = { ...cacheEnv(), HEX_MIRROR: server.url };
  const ok = await beamix(["hex", "info", "beacon", "--public-key", join(repoDir, "public_key"), "--json"], { env });
  assert.equal(ok.code, 0, ok.stderr);
  // Without our key the mirror's records must verify with the built-in hexpm key, and do not.
  const bad = await beamix(["hex", "info", "beacon"], { env });
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split("\n").length, 1);
  assert.match(bad.stderr, /^beamix: .*signature of packages\/beacon does not verify/);
});

test("a tampered registry record is refused with exit code 1 and one line", async () => {
  const path = join(repoDir, "packages", "beacon");
  const original = await readFile(path);
  const tampered = Buffer.from(original);
  tampered[tampered.length - 20] ^= 0xff;
  server.routes.set("/packages/beacon", { body: tampered });
  try {
    const r = await beamix(["hex", "info", "beacon", "--repo", server.url, "--public-key", join(repoDir, "public_key")], { env: cacheEnv() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^beamix: .*packages\/beacon/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  } finally {
    server.routes.delete("/packages/beacon");
  }
});

test("every command has --help; --version; usage errors exit 2 and user errors exit 1", async () => {
  const commands = [[], ["hex"], ["hex", "pack"], ["hex", "unpack"], ["hex", "registry"], ["hex", "registry", "build"], ["hex", "info"]];
  for (const cmd of commands) {
    const r = await beamix([...cmd, "--help"]);
    assert.equal(r.code, 0, `${cmd.join(" ")} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: beamix/);
  }
  const version = await beamix(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);

  for (const args of [["frobnicate"], ["hex", "pack"], ["hex", "pack", "a", "--no-such-flag"], ["hex", "registry", "build", work]]) {
    const r = await beamix(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^beamix: /);
  }

  const missing = await beamix(["hex", "pack", join(work, "no-such-package")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^beamix: .*no-such-package/);
  assert.equal(missing.stderr.trim().split("\n").length, 1);
});
