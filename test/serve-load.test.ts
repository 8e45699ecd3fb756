// A bounded load test of `beamix serve` on loopback: the fixture closure, published by store A,
// served by `beamix serve --cache` in a child process; 16 clients in this process, each with a
// fresh store, realize all of it at once, then read every record and every archive a few times
// more. Every item must verify, no request may fail, the server must have answered exactly the
// requests the clients made. The run has a deadline only as a guard against a hang (a loaded
// machine must not fail it); its figures (bench/serve-load.ts) are printed as test diagnostics,
// and `npm run bench` is where they are judged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { cacheRecords, formatServeLoad, measureServeLoad, startServeProcess } from "../bench/serve-load.ts";
import { readPublicKeyFile } from "../src/signing/keys.ts";

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let cacheDir: string;
let publicKey: string;

const env = () => ({ ...process.env, BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: join(work, "config-empty"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-serve-load-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  const keys = await beamix(["key", "generate", "load-1", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  const [secretKey] = keys.stdout.trim().split("\n");
  publicKey = keys.stdout.trim().split("\n")[1];
  cacheDir = join(work, "cache");
  const pub = await beamix(
    ["publish", "trellis", "nifsum", "--store", join(work, "store-a"), "--repo", hexServer.url, "--public-key", registry.publicKeyPath, "--to", `file://${cacheDir}`, "--sign-with", secretKey],
    { env: env(), timeoutMs: 600_000 },
  );
  assert.equal(pub.code, 0, pub.stderr);
});

after(async () => {
  await hexServer?.close();
  await rm(work, { recursive: true, force: true });
});

test("16 clients realize the closure from one beamix serve at once: every item verifies, no request fails", async (t) => {
  const records = await cacheRecords(cacheDir);
  assert.equal(records.length, 6);
  const server = await startServeProcess(cacheDir, env());
  const clients = 16;
  const rounds = 20;
  let r;
  try {
    r = await measureServeLoad({
      url: server.url,
      records,
      trustedKeys: await readPublicKeyFile(publicKey),
      workDir: join(work, "clients"),
      clients,
      rounds,
      deadlineMs: 600_000,
    });
  } finally {
    assert.equal(await server.stop(), 0, "the server stops cleanly on SIGTERM");
  }
  for (const line of formatServeLoad(r).split("\n")) t.diagnostic(line);

  assert.deepEqual(r.failures, []);
  assert.equal(r.verifiedItems, clients * records.length);
  // Realizing: one cache-info, one record and one archive per item, per client, nothing more.
  assert.equal(r.realize.requests, clients * (1 + 2 * records.length));
  assert.equal(r.realize.records, clients * records.length);
  assert.equal(r.realize.archives, clients * records.length);
  const archiveBytes = records.reduce((n, rec) => n + rec.fileSize, 0);
  assert.equal(r.realize.archiveBytes, clients * archiveBytes);
  assert.equal(r.fetch.records.records, clients * rounds * records.length);
  assert.equal(r.fetch.records.failed, 0);
  assert.equal(r.fetch.archives.archives, clients * rounds * records.length);
  assert.equal(r.fetch.archives.archiveBytes, clients * rounds * archiveBytes);
  for (const f of [r.realize, r.fetch.records]) assert.ok(f.recordsPerSecond > 0);
  for (const f of [r.realize, r.fetch.archives]) assert.ok(f.archiveMBps > 0);

  // The server saw exactly those requests, every one answered 200.
  const requests = server.log.filter((l) => /^(GET|HEAD) \S+ \d{3}/.test(l));
  const total = r.realize.requests + r.fetch.records.requests + r.fetch.archives.requests;
  assert.equal(requests.length, total, server.log.filter((l) => !/ 200$/.test(l)).slice(0, 5).join("\n"));
  assert.deepEqual(requests.filter((l) => !l.endsWith(" 200")), []);
});
