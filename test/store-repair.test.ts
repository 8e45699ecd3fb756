// `beamix verify --repair` brings damaged items back, from a binary cache or by rebuilding them,
// instead of only deleting them, and exits non-zero when something could not be (issue 12).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { hashTree } from "../src/store/nar.ts";
import { removeTree } from "../src/store/perms.ts";
import { beamix } from "./support/cli.ts";
import { fixturePackagesDir, makeRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";

let work: string;
let registry: FixtureRegistry;
let store: string;
let items: Record<string, string>; // package name -> item path
const hashes = new Map<string, string>();

const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CONFIG_DIR: join(work, "config"), BEAMIX_STORE: "", HEX_MIRROR: "", HEX_MIRROR_URL: "", BEAMIX_HEX_PUBLIC_KEY: "" });
const repoArgs = () => ["--repo", pathToFileURL(registry.dir).href, "--public-key", registry.publicKeyPath];
const cacheUrl = () => pathToFileURL(join(work, "binary-cache")).href;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-repair-"));
  registry = await makeRegistry(join(work, "repo"), ["beacon-1.2.0", "mimetable-1.0.0", "plugboard-0.4.0"].map((p) => join(fixturePackagesDir, p)));
  store = join(work, "store");
  const built = await beamix(["build", "plugboard", "--store", store, ...repoArgs()], { env: env(), timeoutMs: 600_000 });
  assert.equal(built.code, 0, built.stderr);
  items = Object.fromEntries((await readdir(store)).filter((e) => e !== ".beamix").map((e) => [e.replace(/^[0-9a-z]+-(.*)-[^-]+$/, "$1"), join(store, e)]));
  assert.deepEqual(Object.keys(items).sort(), ["beacon", "mimetable", "plugboard"]);
  for (const p of Object.values(items)) hashes.set(p, (await hashTree(p)).hash);
  const keys = await beamix(["key", "generate", "ci", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  const pub = await beamix(["publish", "plugboard", "--store", store, ...repoArgs(), "--to", cacheUrl(), "--sign-with", join(work, "keys", "ci.secret")], { env: env(), timeoutMs: 300_000 });
  assert.equal(pub.code, 0, pub.stderr);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

// Damage an item: change one file of it.
async function tamper(item: string): Promise<void> {
  const ebin = join(item, "lib", "erlang", "lib", (await readdir(join(item, "lib", "erlang", "lib")))[0], "ebin");
  const app = join(ebin, (await readdir(ebin)).find((f) => f.endsWith(".app"))!);
  await chmod(ebin, 0o755);
  await chmod(app, 0o644);
  await writeFile(app, (await readFile(app, "utf8")) + "%% tampered\n");
}

async function assertIntact(): Promise<void> {
  const v = await beamix(["verify", "--store", store], { env: env() });
  assert.equal(v.code, 0, v.stdout + v.stderr);
  for (const [path, hash] of hashes) if ((await readdir(store)).includes(path.slice(store.length + 1))) assert.equal((await hashTree(path)).hash, hash);
}

test("verify --repair restores a modified and a missing item from a binary cache", async () => {
  await tamper(items.beacon);
  await removeTree(items.mimetable);
  const check = await beamix(["verify", "--store", store], { env: env() });
  assert.equal(check.code, 1);
  assert.ok(check.stdout.includes(`modified: ${items.beacon}`), check.stdout);
  assert.ok(check.stdout.includes(`missing: ${items.mimetable}`), check.stdout);

  const r = await beamix(["verify", "--repair", "--store", store, "--substituters", cacheUrl(), "--trusted-key", join(work, "keys", "ci.public")], { env: env(), timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`restored ${items.beacon} from ${cacheUrl()}`), r.stdout);
  assert.ok(r.stdout.includes(`restored ${items.mimetable} from ${cacheUrl()}`), r.stdout);
  assert.match(r.stdout, /3 items checked, 1 ok, 2 with problems; 2 restored\n$/);
  assert.doesNotMatch(r.stdout, /removed/);
  await assertIntact();
});

test("verify --repair rebuilds damaged items, references first, when no cache has them", async () => {
  await tamper(items.plugboard);
  await tamper(items.beacon);
  const r = await beamix(["verify", "--repair", "--store", store, ...repoArgs()], { env: env(), timeoutMs: 600_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const restored = r.stdout.split("\n").filter((l) => l.startsWith("restored "));
  assert.deepEqual(restored, [`restored ${items.beacon} from a rebuild`, `restored ${items.plugboard} from a rebuild`]);
  await assertIntact();
});

test("verify --repair exits non-zero when an item cannot be restored, and removes it and its referrers", async () => {
  await tamper(items.beacon);
  // No cache, and a repository that does not answer: nothing can bring beacon back.
  const r = await beamix(["verify", "--repair", "--store", store], { env: { ...env(), HEX_MIRROR: "http://127.0.0.1:9" }, timeoutMs: 300_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`beamix: cannot restore ${items.beacon}: `));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.ok(r.stdout.includes(`removed ${items.beacon}\n`), r.stdout);
  assert.ok(r.stdout.includes(`removed ${items.plugboard}\n`), r.stdout);
  assert.match(r.stdout, /1 with problems; 0 restored, 1 could not be \(removed: build them again\)\n$/);
  // What is left is consistent: mimetable, which does not need beacon.
  const v = await beamix(["verify", "--store", store], { env: env() });
  assert.equal(v.code, 0, v.stdout);
  assert.match(v.stdout, /1 items checked, 1 ok, 0 with problems/);
});
