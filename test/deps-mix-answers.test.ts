// beamix deps keeps Mix's answers about a project (src/deps/mix-answers.ts): a run in which
// mix.exs, the config files it imports and the environment are unchanged starts no Elixir VM;
// changing any of them, or a config that reads the environment, asks Mix again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { formatMixLock } from "../src/mix/lock.ts";
import { lockForRequirements } from "../src/mix/lock-from-resolution.ts";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPair } from "../src/signing/keys.ts";
import { formatCacheInfo } from "../src/substitute/format/cache-info.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let project: string;
let vmLog: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-mix-answers-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  project = join(work, "hello_beacon");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  await writeFile(join(project, "mix.lock"), formatMixLock(await lockForRequirements(repo, [{ name: "beacon", requirement: "~> 1.1" }])));
  // Every Erlang VM the run starts appends a line to vm.log (ERL_AFLAGS reaches each erl beamix
  // starts outside a build sandbox; the toolchain is pinned, so a wrapper on PATH would not).
  vmLog = join(work, "vm.log");
  await writeFile(vmLog, "");
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

async function deps(env: Record<string, string> = {}): Promise<number> {
  return (await depsIn(project, env)).vms;
}

// Runs beamix deps in dir; vms: how many Erlang VMs it started.
async function depsIn(dir: string, env: Record<string, string> = {}): Promise<{ vms: number; stderr: string }> {
  const before = (await readFile(vmLog, "utf8")).split("\n").filter(Boolean).length;
  const r = await beamix(["deps", dir, "--env", "test", "--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath], {
    env: { BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "", ERL_AFLAGS: `-eval file:write_file(\\"${vmLog}\\",<<118,109,10>>,[append])`, ...env },
    timeoutMs: 600_000,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { vms: (await readFile(vmLog, "utf8")).split("\n").filter(Boolean).length - before, stderr: r.stderr };
}

test("an unchanged project is not read by Mix again; a changed mix.exs, config or MIX_ variable is", async () => {
  await deps(); // the first run asks Mix (and may probe the toolchain)
  assert.equal(await deps(), 0, "nothing changed: no Elixir VM");

  const mixExs = join(project, "mix.exs");
  const original = await readFile(mixExs, "utf8");
  await writeFile(mixExs, original + "\n# edited\n");
  assert.equal(await deps(), 1, "mix.exs changed");
  assert.equal(await deps(), 0);

  // A config file appears (an absent file is an input too), then one it imports changes.
  await mkdir(join(project, "config"));
  await writeFile(join(project, "config", "config.exs"), `import Config\nconfig :hello_beacon, greeting: "hi"\nimport_config "#{config_env()}.exs"\n`);
  await writeFile(join(project, "config", "test.exs"), `import Config\n`);
  assert.equal(await deps(), 1, "config.exs appeared");
  assert.equal(await deps(), 0);
  await writeFile(join(project, "config", "test.exs"), `import Config\nconfig :hello_beacon, level: 2\n`);
  assert.equal(await deps(), 1, "an imported config file changed");

  assert.equal(await deps({ MIX_TARGET: "host" }), 1, "a MIX_ variable changed");

  // A config that reads a variable by name (as Phoenix's config/test.exs reads
  // MIX_TEST_PARTITION): its answers hold while that variable has the same value.
  await writeFile(join(project, "config", "test.exs"), `import Config\nconfig :hello_beacon, port: System.get_env("PORT", "4000")\n`);
  assert.equal(await deps({ PORT: "4001" }), 1);
  assert.equal(await deps({ PORT: "4001" }), 0, "the same value: no VM");
  assert.equal(await deps({ PORT: "4002" }), 1, "another value");
  assert.equal(await deps(), 1, "unset");
  assert.equal(await deps(), 0);
  // Any other System call, or a variable named by an expression, is asked every time.
  await writeFile(join(project, "config", "test.exs"), `import Config\nconfig :hello_beacon, port: System.get_env("PORT"), arch: System.cmd("uname", ["-m"])\n`);
  assert.equal(await deps(), 1);
  assert.equal(await deps(), 1, "System.cmd is never cached");
  await writeFile(join(project, "config", "test.exs"), `import Config\nname = "PO" <> "RT"\nconfig :hello_beacon, port: System.get_env(name)\n`);
  assert.equal(await deps(), 1);
  assert.equal(await deps(), 1, "a variable named by an expression is never cached");
});

test("nothing changed since the last complete run: no registry request and nothing written; any change takes the full path", async () => {
  await writeFile(join(project, "config", "test.exs"), `import Config\n`);
  await deps();
  await deps(); // a complete run with Mix's answers kept: it records the state
  const before = server.requests.length;
  const beam = join(project, "_build", "test", "lib", "beacon", "ebin", "beacon.beam");
  const mtime = (await stat(beam)).mtimeMs;
  assert.equal(await deps(), 0);
  assert.equal(server.requests.length, before, `asked the registry: ${server.requests.slice(before).join(" ")}`);
  assert.equal((await stat(beam)).mtimeMs, mtime);

  // A file beamix wrote is changed: the full run notices and repairs it.
  await writeFile(beam, "damaged");
  await deps();
  assert.notEqual(await readFile(beam, "utf8"), "damaged");
  // An extra file in the dependency's _build directory is noticed too.
  await writeFile(join(project, "_build", "test", "lib", "beacon", "ebin", "extra.beam"), "x");
  await deps();
  await assert.rejects(stat(join(project, "_build", "test", "lib", "beacon", "ebin", "extra.beam")));
  // mix.lock edited (here only reformatted): the full path again, which asks the registry.
  const lock = join(project, "mix.lock");
  await writeFile(lock, (await readFile(lock, "utf8")) + "\n");
  const n = server.requests.length;
  await deps();
  assert.ok(server.requests.length > n, "a changed mix.lock is verified against the registry again");
});

test("another checkout of the same project is not read by Mix again; one whose answers name a place outside it is", async () => {
  await writeFile(join(project, "config", "test.exs"), `import Config\n`);
  await deps(); // answers learnt (or kept) for this checkout
  const checkout = join(work, "elsewhere", "hello_beacon");
  await cp(project, checkout, { recursive: true, filter: (src) => !src.includes("/_build") && !src.includes("/deps") });
  const first = await depsIn(checkout);
  assert.equal(first.vms, 0, "the answers moved with the project");
  // What Mix would have answered there: paths in the new checkout.
  assert.ok((await stat(join(checkout, "_build", "test", "lib", "beacon", "ebin", "beacon.beam"))).isFile());
  assert.match(first.stderr, new RegExp(`${checkout}/_build/test/lib`));

  // deps_path outside the project: it means another place from each checkout, so Mix is asked.
  const mixExs = join(checkout, "mix.exs");
  await writeFile(mixExs, (await readFile(mixExs, "utf8")).replace("version:", `deps_path: "../shared_deps",\n      version:`));
  assert.equal((await depsIn(checkout)).vms, 1);
  const third = join(work, "third", "hello_beacon");
  await cp(checkout, third, { recursive: true, filter: (src) => !src.includes("/_build") });
  assert.equal((await depsIn(third)).vms, 1, "answers naming ../shared_deps are not moved");
});

test("a cache that never answers for Mix's answers or the project's record does not hold the run: Mix is asked, and the process ends", async () => {
  // A cache whose cache-info answers and whose Mix answers and restore records never come;
  // everything else is 404.
  const held = new Set<ServerResponse>();
  const cache = createServer((req, res) => {
    if (req.url === "/beamix-cache-info") res.end(formatCacheInfo({ format: 1, priority: 40 }));
    else if (req.url?.startsWith("/mix-answers/") || req.url?.startsWith("/deps-records/")) held.add(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => cache.listen(0, "127.0.0.1", resolve));
  const keyFile = join(work, "slow-cache.public");
  await writeFile(keyFile, generateKeyPair("slow-cache-1").publicText);
  try {
    const before = (await readFile(vmLog, "utf8")).split("\n").filter(Boolean).length;
    // The cache's own time-out is 10 minutes, past the test's: only giving up on the answers
    // and the record lets this run end.
    const { port } = cache.address() as AddressInfo;
    const args = ["--substituters", `http://127.0.0.1:${port}`, "--trusted-key", keyFile, "--substitute-timeout", "600"];
    const r = await beamix(["deps", project, "--env", "test", "--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath, ...args], {
      env: { BEAMIX_CACHE_DIR: join(work, "cache-slow"), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "", ERL_AFLAGS: `-eval file:write_file(\\"${vmLog}\\",<<118,109,10>>,[append])` },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(held.size, 2, "the answers and the record were asked for");
    assert.ok((await readFile(vmLog, "utf8")).split("\n").filter(Boolean).length > before, "Mix was asked");
    assert.doesNotMatch(r.stderr, /ignoring the Mix answers/);
  } finally {
    for (const res of held) res.destroy();
    await new Promise((resolve) => cache.close(resolve));
  }
});
