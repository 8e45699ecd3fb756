// Run by `npm run test:toolchains` (scripts/toolchains/test.ts), not by `npm test`: needs
// BEAMIX_TOOLCHAIN naming a toolchain other than the one on the system's PATH
// (BEAMIX_SYSTEM_PATH). Through the CLI: the same packages built with `--toolchain` naming each
// get different derivation hashes (a Mix package, a rebar3 one, a make one), and rebuilding
// with the modern one is bit-identical.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { beamix } from "../../test/support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "../../test/support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "../../test/support/static-server.ts";
import { detectToolchain } from "../../src/toolchain/detect.ts";

const modern = process.env.BEAMIX_TOOLCHAIN;
const systemPath = process.env.BEAMIX_SYSTEM_PATH;

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let system: string; // an install prefix whose bin/ links to the system's tools
let systemOtp: string;

before(async () => {
  if (!modern || !systemPath) throw new Error("run through scripts/toolchains/test.ts: BEAMIX_TOOLCHAIN and BEAMIX_SYSTEM_PATH are not set");
  work = await mkdtemp(join(tmpdir(), "beamix-two-toolchains-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  const tc = await detectToolchain({ searchPath: systemPath, cacheDir: null });
  systemOtp = tc.otpVersion;
  system = join(work, "system");
  await mkdir(join(system, "bin"), { recursive: true });
  for (const [name, path] of [["erl", tc.paths.erl], ["elixir", tc.paths.elixir], ["rebar3", tc.paths.rebar3]] as const) {
    if (!path) throw new Error(`no ${name} on the system's PATH`);
    await symlink(path, join(system, "bin", name));
  }
});

after(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const SPECS = ["mimetable", "beacon@~> 1.2", "wirecodec"]; // Mix, rebar3, make
const args = (toolchain: string) => ["--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath, "--toolchain", toolchain];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

async function build(toolchain: string): Promise<Map<string, string>> {
  const r = await beamix(["build", ...SPECS, ...args(toolchain), "--json"], { env: env(), timeoutMs: 900_000 });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { roots: { name: string; path: string }[] };
  return new Map(json.roots.map((x) => [x.name, basename(x.path)]));
}

test("another Erlang and Elixir give other derivation hashes; rebuilding with them is bit-identical", async () => {
  const show = await beamix(["toolchain", "show", "--json", "--toolchain", modern!], { env: env() });
  assert.equal(show.code, 0, show.stderr);
  const modernOtp = (JSON.parse(show.stdout) as { otpVersion: string }).otpVersion;
  const onSystem = await build(system);
  const onModern = await build(modern!);
  assert.equal(onModern.size, 3);
  for (const [name, item] of onModern) {
    assert.notEqual(item, onSystem.get(name), `${name}: the same derivation with both toolchains`);
    assert.equal(item.replace(/^[^-]+-/, ""), onSystem.get(name)!.replace(/^[^-]+-/, ""), name);
  }
  const check = await beamix(["build", "--check", ...SPECS, ...args(modern!)], { env: env(), timeoutMs: 900_000 });
  assert.equal(check.code, 0, check.stderr);
  for (const line of [/mimetable 1\.0\.0: bit-identical/, /beacon 1\.2\.0: bit-identical/, /wirecodec 1\.0\.0: bit-identical/]) assert.match(check.stdout, line);

  // The store's items were built with two toolchains, and `toolchain list` says which.
  const list = await beamix(["toolchain", "list", "--json", "--store", join(work, "store")], { env: env() });
  assert.equal(list.code, 0, list.stderr);
  const built = (JSON.parse(list.stdout) as { store: { otpVersion: string; items: number }[] }).store;
  assert.deepEqual(built.map((b) => b.otpVersion).sort(), [systemOtp, modernOtp].sort());
  assert.ok(built.every((b) => b.items === 3), JSON.stringify(built));
});
