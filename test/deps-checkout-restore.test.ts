// `beamix deps` in a fresh checkout of a project whose dependencies were put in place before is
// answered from a record without running (src/deps/checkout-restore.ts). What a user relies on:
// the checkout gets exactly the files, output, GC roots and state the full path gives it, Mix then
// compiles only the project, the next run there ends at once, and anything the record does not
// vouch for (another mix.exs, a directory already there, another MIX_ENV, a changed pack) takes
// the full path.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { depsStateFile } from "../src/deps/deps-state.ts";
import { depsRootPrefix } from "../src/inspect/projects.ts";
import { LOCK_STANDIN, webappProject } from "../bench/deps-bench.ts";
import { cleanEnv } from "../bench/mix-baseline.ts";
import { treeListing } from "./support/tree-listing.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let template: string; // the project as committed: no deps/, no _build/

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-checkout-restore-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "lock-cache") });
  template = await webappProject(join(work, "template", "webapp"), repo);
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const cache = () => join(work, "cache");
const store = () => join(work, "store");
const env = (replay: "trace" | "off" = "trace") => ({ BEAMIX_CACHE_DIR: cache(), HEX_MIRROR: "", HEX_MIRROR_URL: "", MIX_ENV: "", BEAMIX_REPLAY: replay });
const args = () => ["--env", "prod", "--store", store(), "--repo", server.url, "--public-key", registry.publicKeyPath];
const RESTORED = "beamix: restored a fresh checkout from its record\n";
const REPLAYED = "beamix: replayed: nothing changed\n";

// beamix deps DIR --json ... from `cwd` (default: the test's), the trace line taken apart.
async function deps(dir: string | null, o: { replay?: "trace" | "off"; cwd?: string; extra?: string[]; text?: boolean } = {}): Promise<CliResult & { how: string }> {
  const r = await beamix(["deps", ...(dir === null ? [] : [dir]), ...(o.text ? [] : ["--json"]), ...args(), ...(o.extra ?? [])], { env: env(o.replay), cwd: o.cwd, timeoutMs: 900_000 });
  assert.equal(r.code, 0, `beamix deps ${dir} failed:\n${r.stdout}\n${r.stderr}`);
  const how = r.stderr.startsWith("beamix: ") && (r.stderr.startsWith(RESTORED) || r.stderr.startsWith(REPLAYED)) ? r.stderr.slice(0, r.stderr.indexOf("\n") + 1) : "";
  return { ...r, stderr: r.stderr.slice(how.length), how };
}

async function checkout(name: string): Promise<string> {
  const dir = join(work, name, "webapp");
  await cp(template, dir, { recursive: true });
  return dir;
}

// type, mode, size and content of every entry under deps/ and _build/prod/lib.
async function listing(root: string): Promise<Map<string, string>> {
  return new Map([...(await treeListing(root, "deps")), ...(await treeListing(root, "_build/prod/lib"))]);
}

const withDir = (text: string, from: string, to: string) => text.split(from).join(to);

// What Hex's unpacking and Mix's markers rest on: each deps/APP's own files share one whole-second
// mtime, and _build's compile.fetch is not older than deps' .fetch.
async function assertMtimes(dir: string): Promise<void> {
  for (const app of await readdir(join(dir, "deps"))) {
    const root = join(dir, "deps", app);
    const times = new Set<number>();
    const walk = async (rel: string) => {
      for (const name of await readdir(join(root, rel))) {
        const path = join(rel, name);
        if (rel === "" && ["hex_metadata.config", ".hex", ".fetch"].includes(name)) continue;
        const st = await lstat(join(root, path));
        if (st.isSymbolicLink()) continue;
        times.add(st.mtimeMs);
        if (st.isDirectory()) await walk(path);
      }
    };
    await walk("");
    assert.equal(times.size, 1, `deps/${app}: one mtime for the package's files`);
    assert.equal([...times][0] % 1000, 0, `deps/${app}: a whole second`);
    const fetch = await stat(join(root, ".fetch")).catch(() => undefined);
    const compiled = await stat(join(dir, "_build", "prod", "lib", app, ".mix", "compile.fetch")).catch(() => undefined);
    if (fetch && compiled) assert.ok(compiled.mtimeMs >= fetch.mtimeMs, `${app}: compile.fetch not older than .fetch`);
  }
}

test("a fresh checkout gets exactly what the full path writes, prints and records, and Mix compiles only the project", async () => {
  const first = await checkout("first");
  const built = await deps(first);
  assert.equal(built.how, "", "the first run takes the full path");

  const restored = await checkout("restored");
  const r = await deps(restored);
  assert.equal(r.how, RESTORED);
  const full = await checkout("full");
  const f = await deps(full, { replay: "off" });

  // The same files, links and modes; the output the full path prints there.
  assert.deepEqual(await listing(restored), await listing(full));
  await assertMtimes(restored);
  assert.deepEqual(JSON.parse(withDir(r.stdout, restored, full)), JSON.parse(f.stdout));
  assert.equal(withDir(r.stderr, restored, full), f.stderr);
  assert.match(r.stderr, /^0 built, (\d+) already present, \1 written, 0 unchanged/);

  // The project's GC roots and its note in the store, as the full path makes them.
  const roots = await readdir(join(store(), ".beamix", "roots"));
  const mine = (dir: string) => roots.filter((n) => n.startsWith(depsRootPrefix(dir, "prod"))).map((n) => n.slice(depsRootPrefix(dir, "prod").length)).sort();
  assert.deepEqual(mine(restored), mine(full));
  assert.ok(mine(restored).length > 0);
  const notes = await readdir(join(store(), ".beamix", "projects"));
  assert.ok(notes.includes(`${depsRootPrefix(restored, "prod").slice(5, -1)}.json`), "the project is noted for beamix roots");

  // The next run there is replayed; the full path there ends early on the state the restore
  // left (its key is the one a run there computes), without rewriting it.
  const again = await deps(restored);
  assert.equal(again.how, REPLAYED);
  const stateFile = depsStateFile(cache(), restored, "prod");
  const before = await stat(stateFile);
  const unchanged = await deps(restored, { replay: "off" });
  assert.equal(JSON.parse(unchanged.stdout).changed, false);
  assert.equal(again.stdout, unchanged.stdout);
  assert.equal(again.stderr, unchanged.stderr);
  const after = await stat(stateFile);
  assert.equal(after.mtimeMs, before.mtimeMs, "the full path ended on the restored state");

  // The same directory after `rm -rf deps _build` is a fresh checkout too.
  await rm(join(restored, "deps"), { recursive: true });
  await rm(join(restored, "_build"), { recursive: true });
  assert.equal((await deps(restored)).how, RESTORED);
  assert.equal((await deps(restored)).how, REPLAYED);
  assert.deepEqual(await listing(restored), await listing(full));

  // Mix takes the restored dependencies as compiled.
  const home = await mkdtemp(join(work, "home-"));
  const mixEnv = cleanEnv({ HOME: home, MIX_HOME: join(home, "mix"), HEX_HOME: join(home, "hex"), MIX_ENV: "prod", LANG: "C.UTF-8" });
  const compile = await runCommand("elixir", ["-r", LOCK_STANDIN, "-S", "mix", "compile"], { cwd: restored, env: mixEnv, timeoutMs: 600_000 });
  assert.equal(compile.code, 0, compile.stdout + compile.stderr);
  assert.doesNotMatch(compile.stdout + compile.stderr, /==> /, "no dependency compiled");
  assert.match(compile.stdout + compile.stderr, /Generated webapp app/);
});

test("the working directory may be the checkout itself, as in CI (`cd checkout && beamix deps`), and the report printed as asked", async () => {
  const first = await checkout("cwd-first");
  assert.equal((await deps(null, { cwd: first })).how, "");
  const second = await checkout("cwd-second");
  const r = await deps(null, { cwd: second, text: true });
  assert.equal(r.how, RESTORED);
  const full = await checkout("cwd-full");
  const f = await deps(null, { cwd: full, replay: "off", text: true });
  assert.deepEqual(await listing(second), await listing(full));
  assert.match(r.stdout, /^jsonish \S+  present  deps: create  _build: create/m);
  assert.equal(withDir(r.stdout, second, full), f.stdout);
  assert.equal(withDir(r.stderr, second, full), f.stderr);
});

test("another mix.exs, a directory already there, another MIX_ENV or a changed pack takes the full path", async () => {
  const first = await checkout("guard-first");
  await deps(first);

  const edited = await checkout("guard-mix-exs");
  await writeFile(join(edited, "mix.exs"), (await readFile(join(edited, "mix.exs"), "utf8")) + "\n# changed\n");
  assert.equal((await deps(edited)).how, "", "another mix.exs");

  const config = await checkout("guard-config");
  const configFile = join(config, "config", "config.exs");
  await writeFile(configFile, (await readFile(configFile, "utf8")) + "\n# changed\n");
  assert.equal((await deps(config)).how, "", "another config file");

  const occupied = await checkout("guard-occupied");
  await mkdir(join(occupied, "deps", "jsonish"), { recursive: true });
  await writeFile(join(occupied, "deps", "jsonish", "stray.txt"), "a user's file\n");
  const o = await deps(occupied);
  assert.equal(o.how, "", "deps/jsonish already there");
  assert.equal(await readFile(join(occupied, "deps", "jsonish", "stray.txt"), "utf8").catch(() => "gone"), "gone", "the full path made deps/jsonish what it should be");

  const otherEnv = await checkout("guard-env");
  assert.equal((await deps(otherEnv, { extra: ["--env", "test"] })).how, "", "another MIX_ENV");

  const packDir = join(cache(), "deps-state", "restore-packs");
  const packs = await readdir(packDir);
  assert.ok(packs.length > 0);
  for (const p of packs) await utimes(join(packDir, p), new Date(), new Date());
  const touched = await checkout("guard-pack");
  assert.equal((await deps(touched)).how, "", "a pack changed since it was recorded");
  // That full run recorded again.
  assert.equal((await deps(await checkout("guard-after"))).how, RESTORED);

  // A record that would write through a link it makes (not one beamix writes) is refused.
  const records = (await readdir(join(cache(), "deps-state"))).filter((n) => /^restore-.*\.json$/.test(n));
  const outside = join(work, "outside");
  await mkdir(outside);
  for (const name of records) {
    const file = join(cache(), "deps-state", name);
    const r = JSON.parse(await readFile(file, "utf8")) as { trees: { entries: unknown[] }[] };
    r.trees[0].entries.push(["l", "escape", outside], ["d", "escape/inside", 0o755]);
    await writeFile(file, JSON.stringify(r));
  }
  const crafted = await checkout("guard-crafted");
  assert.equal((await deps(crafted)).how, "", "a crafted record");
  assert.deepEqual(await readdir(outside), [], "nothing written outside the project");

  // Nor one whose bytes would come from a file of the user's that is not one of its packs.
  const secret = join(work, "secret.txt");
  await writeFile(secret, "not for the project\n".repeat(1 << 20)); // larger than any pack: every entry fits
  await deps(await checkout("guard-rerecord")); // a record beamix wrote again
  for (const name of (await readdir(join(cache(), "deps-state"))).filter((n) => /^restore-.*\.json$/.test(n))) {
    const file = join(cache(), "deps-state", name);
    const r = JSON.parse(await readFile(file, "utf8")) as { trees: { pack: unknown[] | null }[] };
    const st = await stat(secret, { bigint: true });
    for (const t of r.trees) if (t.pack) t.pack = [secret, "f", st.ino.toString(), st.size.toString(), st.mtimeNs.toString(), st.ctimeNs.toString()];
    await writeFile(file, JSON.stringify(r));
  }
  const stolen = await checkout("guard-pack-path");
  assert.equal((await deps(stolen)).how, "", "a record naming another file as its pack");
});

test("with --hard-links, a restored _build links the store's files as the full path does", async () => {
  const first = await checkout("links-first");
  await deps(first, { extra: ["--hard-links"] });
  const restored = await checkout("links-restored");
  assert.equal((await deps(restored, { extra: ["--hard-links"] })).how, RESTORED);
  const full = await checkout("links-full");
  await deps(full, { extra: ["--hard-links"], replay: "off" });
  assert.deepEqual(await listing(restored), await listing(full));
  const ebin = join(restored, "_build", "prod", "lib", "jsonish", "ebin");
  const beam = (await readdir(ebin)).find((f) => f.endsWith(".beam"))!;
  assert.ok((await stat(join(ebin, beam))).nlink > 1, "a hard link to the store item's file");
  // A plain run there turns them back into copies.
  const plain = JSON.parse((await deps(restored)).stdout);
  assert.equal(plain.changed, true);
  assert.equal((await stat(join(ebin, beam))).nlink, 1);
});
