// Signed substitutes end to end through the CLI, on the fixture corpus: store A builds a closure
// and publishes it; fresh stores trusting A's key realize it with zero builds from file://, from
// `beamix serve --cache` and from `beamix serve --store`; every kind of tampering or broken
// download is rejected with one line and the item is built locally instead, with nothing
// unverified in the store; killing beamix mid-download leaves no partial item.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { startServe, stopServe } from "./support/serve-cli.ts";
import { startMisbehavingServer, type Behaviour, type MisbehavingServer } from "./support/substitute-cache.ts";
import { openStore } from "../src/store/store.ts";
import { formatRecord, parseRecord, signRecord } from "../src/substitute/format/record.ts";
import { generateKeyPair, parseSecretKey } from "../src/signing/keys.ts";

const mainJs = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let secretKey: string;
let publicKey: string;
let cacheDir: string;
let itemsA: Map<string, { drvHash: string; narHash: string; name: string; version: string }>; // by item directory name
const SPECS = ["trellis", "nifsum"];

const storeDir = (name: string) => join(work, "stores", name);
const repoArgs = () => ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];
// A config directory with no trusted keys and no substituters unless a test puts some there.
const env = (config = join(work, "config-empty")) => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: config, HEX_MIRROR: "", HEX_MIRROR_URL: "" });

interface BuildJson {
  roots: { name: string; path: string | null }[];
  built: number;
  substituted: number;
  present: number;
  failed: { name: string; message: string }[];
  skipped: { name: string }[];
}

async function build(store: string, extra: string[], envs = env()): Promise<CliResult & { json: BuildJson }> {
  const r = await beamix(["build", ...SPECS, "--store", store, ...repoArgs(), "--json", ...extra], { env: envs, timeoutMs: 600_000 });
  let json: BuildJson;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`beamix build printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

async function storeItems(dir: string) {
  const s = await openStore(dir);
  try {
    return new Map(s.listItems().map((i) => [i.path.split("/").pop()!, { drvHash: i.drvHash, narHash: i.narHash, name: i.name, version: i.version, deriver: i.deriver }]));
  } finally {
    await s.close();
  }
}

// The store holds exactly store A's items (same names, same output hashes), verified, no leftovers.
async function assertSameAsA(dir: string): Promise<void> {
  const items = await storeItems(dir);
  assert.deepEqual([...items.keys()].sort(), [...itemsA.keys()].sort());
  for (const [k, v] of items) assert.equal(v.narHash, itemsA.get(k)!.narHash, k);
  const v = await beamix(["verify", "--store", dir, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual(JSON.parse(v.stdout).problems, []);
  assert.deepEqual(await readdir(join(dir, ".beamix", "tmp")), []);
}

const beaconOf = () => [...itemsA.values()].find((i) => i.name === "beacon")!;

async function archiveKeyOf(cache: string, drvHash: string): Promise<string> {
  return parseRecord(await readFile(join(cache, `${drvHash}.beamixinfo`), "utf8"), "r").url;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-substitute-e2e-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  const keys = await beamix(["key", "generate", "e2e-cache-1", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
  cacheDir = join(work, "cache");
  const pub = await beamix(["publish", ...SPECS, "--store", storeDir("a"), ...repoArgs(), "--to", `file://${cacheDir}`, "--sign-with", secretKey, "--json"], { env: env(), timeoutMs: 600_000 });
  assert.equal(pub.code, 0, pub.stderr);
  const json = JSON.parse(pub.stdout) as { pushed: string[]; present: string[] };
  itemsA = await storeItems(storeDir("a"));
  assert.equal(itemsA.size, 6); // trellis, plugboard, mimetable, beacon, sockadapt; nifsum
  assert.equal(json.pushed.length, 6);
  assert.match(pub.stderr, /^6 pushed, 0 already in file:\/\//m);
});

after(async () => {
  await hexServer?.close();
  await rm(work, { recursive: true, force: true });
});

test("publish again: everything is already there; the cache holds six records and archives", async () => {
  const again = await beamix(["publish", ...SPECS, "--store", storeDir("a"), ...repoArgs(), "--to", `file://${cacheDir}`, "--sign-with", secretKey], { env: env(), timeoutMs: 600_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^0 pushed, 6 already in /m);
  const names = await readdir(cacheDir);
  assert.equal(names.filter((n) => n.endsWith(".beamixinfo")).length, 6);
  assert.equal((await readdir(join(cacheDir, "archives"))).length, 6);
  assert.ok(names.includes("beamix-cache-info"));
});

test("a fresh store trusting the key (key authorize) realizes the closure from file:// with zero builds", async () => {
  const config = join(work, "config-trusting");
  const auth = await beamix(["key", "authorize", publicKey], { env: env(config) });
  assert.equal(auth.code, 0, auth.stderr);
  assert.match(auth.stderr, /trusting e2e-cache-1/);
  assert.equal((await readFile(join(config, "trusted-keys"), "utf8")).trim(), (await readFile(publicKey, "utf8")).trim());
  const list = await beamix(["key", "list"], { env: env(config) });
  assert.equal(list.stdout.trim(), (await readFile(publicKey, "utf8")).trim());

  const r = await build(storeDir("b-file"), ["--substituters", `file://${cacheDir}`], env(config));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.built, 0);
  assert.equal(r.json.substituted, 6);
  assert.match(r.stderr, /^0 built, 6 substituted, 0 already present, 0 failed$/m);
  assert.doesNotMatch(r.stderr, /cannot substitute|building /);
  await assertSameAsA(storeDir("b-file"));
  const items = await storeItems(storeDir("b-file"));
  const deriver = [...items.values()][0].deriver as { substitutedFrom: string; derivation: unknown };
  assert.equal(deriver.substitutedFrom, `file://${cacheDir}`);
  assert.ok(deriver.derivation, "the planned derivation is recorded");

  // The same through the config file's substituters; and --no-substitutes builds instead.
  await writeFile(join(config, "substituters"), `file://${cacheDir}\n`);
  const viaConfig = await build(storeDir("b-config"), [], env(config));
  assert.equal(viaConfig.json.substituted, 6, viaConfig.stderr);
  const none = await build(storeDir("b-none"), ["--no-substitutes"], env(config));
  assert.equal(none.json.substituted, 0);
  assert.equal(none.json.built, 6);
  await rm(join(config, "substituters"));
});

const serve = (args: string[]) => startServe(args, env());
const stop = stopServe;

test("beamix serve --cache: a fresh store realizes the closure over HTTP with zero builds (--trusted-key)", async () => {
  const s = await serve(["--cache", cacheDir, "--port", "0", "--host", "127.0.0.1"]);
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const b = beaconOf();
    const head = await fetch(`${s.url}/${b.drvHash}.beamixinfo`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/x-beamix-info; charset=utf-8");
    const etag = head.headers.get("etag")!;
    assert.equal((await fetch(`${s.url}/${b.drvHash}.beamixinfo`, { headers: { "if-none-match": etag } })).status, 304);
    assert.equal((await fetch(`${s.url}/..%2f..%2fetc%2fpasswd`)).status, 400);

    const r = await build(storeDir("c-http"), ["--substituters", s.url, "--trusted-key", publicKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.built, 0);
    assert.equal(r.json.substituted, 6);
    await assertSameAsA(storeDir("c-http"));
  } finally {
    assert.equal(await stop(s.child), 0, "SIGTERM closes the server cleanly");
  }
});

test("beamix serve --store --sign-with: records signed on the fly; a fresh store realizes with zero builds", async () => {
  const s = await serve(["--store", storeDir("a"), "--sign-with", secretKey, "--priority", "10"]);
  try {
    assert.equal(await (await fetch(`${s.url}/beamix-cache-info`)).text(), "Format: 1\nPriority: 10\n");
    const r = await build(storeDir("d-serve-store"), ["--substituters", s.url, "--trusted-key", publicKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.built, 0);
    assert.equal(r.json.substituted, 6);
    await assertSameAsA(storeDir("d-serve-store"));
  } finally {
    assert.equal(await stop(s.child), 0);
  }
  // Unsigned records from a store served without a key are refused: everything is built.
  const u = await serve(["--store", storeDir("a")]);
  try {
    assert.match(u.stderr(), /records are not signed/);
    const r = await build(storeDir("d-unsigned"), ["--substituters", u.url, "--trusted-key", publicKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.built, 6);
    assert.equal(r.stderr.split("\n").filter((l) => /^cannot substitute .*: the record is not signed$/.test(l)).length, 6);
  } finally {
    await stop(u.child);
  }
});

// A copy of the cache with beacon's entry tampered with.
async function tamperedCopy(name: string, tamper: (dir: string, beaconRecord: string) => Promise<void>): Promise<string> {
  const dir = join(work, "tampered", name);
  await cp(cacheDir, dir, { recursive: true });
  await tamper(dir, join(dir, `${beaconOf().drvHash}.beamixinfo`));
  return dir;
}

// One line naming beacon and the reason; beacon built locally (to the same output); the rest
// substituted; the store holds exactly A's items.
async function assertRejectedThenBuilt(store: string, substituter: string, reason: RegExp, extra: string[] = []) {
  const r = await build(store, ["--substituters", substituter, "--trusted-key", publicKey, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("cannot substitute"));
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith(`cannot substitute beacon 1.2.0 from ${substituter}: `), lines[0]);
  assert.match(lines[0], reason);
  assert.equal(r.json.built, 1);
  assert.equal(r.json.substituted, 5);
  assert.match(r.stderr, /^building beacon 1\.2\.0$/m);
  assert.match(r.stderr, /^1 built, 5 substituted, 0 already present, 0 failed$/m);
  await assertSameAsA(store);
}

test("tampering: flipped archive byte, edited record, untrusted key — each rejected in one line, then built", async () => {
  const flipped = await tamperedCopy("flipped", async (dir, rec) => {
    const p = join(dir, await archiveKeyOf(dir, beaconOf().drvHash));
    const b = await readFile(p);
    b[b.length >> 1] ^= 0x10;
    await writeFile(p, b);
    void rec;
  });
  await assertRejectedThenBuilt(storeDir("t-flipped"), `file://${flipped}`, /zstd|hash does not match/);

  const edited = await tamperedCopy("edited", async (_dir, rec) => {
    await writeFile(rec, (await readFile(rec, "utf8")).replace(/NarHash: sha256:[0-9a-f]{64}/, `NarHash: sha256:${"0".repeat(64)}`));
  });
  await assertRejectedThenBuilt(storeDir("t-edited"), `file://${edited}`, /signature by e2e-cache-1 does not verify$/);

  const untrusted = await tamperedCopy("untrusted", async (_dir, rec) => {
    const stranger = parseSecretKey(generateKeyPair("stranger-1").secretText);
    const r = parseRecord(await readFile(rec, "utf8"), rec);
    await writeFile(rec, formatRecord(signRecord({ ...r, signatures: [] }, stranger)));
  });
  await assertRejectedThenBuilt(storeDir("t-untrusted"), `file://${untrusted}`, /signed by stranger-1, which is not a trusted key$/);
});

test("broken downloads: truncated body, server closing mid-body — each rejected in one line, then built", async () => {
  const mis: MisbehavingServer = await startMisbehavingServer(cacheDir);
  try {
    const beaconArchive = await archiveKeyOf(cacheDir, beaconOf().drvHash);
    const only = (b: Behaviour) => (key: string) => (key === beaconArchive ? b : "normal");
    mis.setBehaviour(only("truncate"));
    await assertRejectedThenBuilt(storeDir("t-truncated"), mis.url, /the archive file size is \d+, the record says \d+/);
    mis.setBehaviour(only("close"));
    await assertRejectedThenBuilt(storeDir("t-closed"), mis.url, /connection failed after \d+ bytes|ended early|ended after \d+ of \d+ bytes/);
    mis.setBehaviour(only("hang"));
    await assertRejectedThenBuilt(storeDir("t-hang"), mis.url, /no data for 1 s .*\(time-out\)/, ["--substitute-timeout", "1"]);
  } finally {
    await mis.close();
  }
});

test("--no-fallback: a trusted substitute that fails verification fails the item instead of building it", async () => {
  const flipped = join(work, "tampered", "flipped");
  const r = await build(storeDir("t-no-fallback"), ["--substituters", `file://${flipped}`, "--trusted-key", publicKey, "--no-fallback"]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.json.failed.map((f) => f.name), ["beacon"]);
  assert.match(r.json.failed[0].message, /beacon 1\.2\.0: the only trusted substitute failed verification or download, and falling back to a local build is off/);
  assert.equal(r.json.built, 0);
  const items = await storeItems(storeDir("t-no-fallback"));
  assert.ok(![...items.values()].some((i) => i.name === "beacon"));
  assert.deepEqual(await readdir(join(storeDir("t-no-fallback"), ".beamix", "tmp")), []);
});

test("killing beamix mid-download leaves no partial item; the next run completes", async () => {
  const mis = await startMisbehavingServer(cacheDir);
  const store = storeDir("k-killed");
  try {
    // Every archive arrives but for its last 4 bytes (the zstd checksum), so the tree is restored
    // in a staging directory and then waits for the end of the stream to be verified.
    mis.setBehaviour((key) => (key.startsWith("archives/") ? { stallBefore: 4 } : "normal"));
    const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", mainJs, "build", ...SPECS, "--store", store, ...repoArgs(), "--substituters", mis.url, "--trusted-key", publicKey], {
      env: { ...process.env, ...env() },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    let exited = false;
    const closed = new Promise((r) => child.on("close", r)).then(() => (exited = true));
    const midway = await new Promise<string>((resolve) => {
      mis.onArchiveBytes = (key) => resolve(key);
      child.on("close", () => resolve(""));
    });
    assert.ok(midway, `the download never started: ${stderr}`);
    // Wait for the restored (unverified) tree to appear in the store's temporary directory.
    const tmp = join(store, ".beamix", "tmp");
    let staged: string[] = [];
    for (let i = 0; i < 200 && !exited; i++) {
      staged = [];
      for (const n of (await readdir(tmp)).filter((n) => n.startsWith("stage-"))) {
        if ((await readdir(join(tmp, n)).catch(() => [] as string[])).includes("lib")) staged.push(n);
      }
      if (staged.length) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(staged.length > 0, `a restored tree waits in a staging directory: ${stderr}`);
    child.kill("SIGKILL");
    await closed;
    mis.onArchiveBytes = undefined;

    // Opening the store recovers: the dead process's staging is gone, and no item is partial.
    const items = await storeItems(store);
    for (const [k, v] of items) assert.equal(v.narHash, itemsA.get(k)!.narHash, k);
    const downloading = [];
    for (const [dirName, i] of itemsA) if ((await archiveKeyOf(cacheDir, i.drvHash)) === midway) downloading.push(dirName);
    assert.equal(downloading.length, 1);
    assert.ok(!items.has(downloading[0]), `${downloading[0]}, killed mid-download, is not in the store`);
    assert.deepEqual(await readdir(join(store, ".beamix", "tmp")), []);
    const v = await beamix(["verify", "--store", store, "--json"]);
    assert.deepEqual(JSON.parse(v.stdout).problems, []);

    mis.setBehaviour(() => "normal");
    const r = await build(store, ["--substituters", mis.url, "--trusted-key", publicKey]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.built, 0);
    assert.equal(r.json.substituted + r.json.present, 6);
    await assertSameAsA(store);
  } finally {
    await mis.close();
  }
});
