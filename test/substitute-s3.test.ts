// Binary caches in S3, against a real S3 API (s3rver) on loopback: `beamix publish --to s3://` and
// `--substituters s3://` through the CLI, with the endpoint, region and credentials taken from the
// environment as a user would set them. Store A publishes the fixture closure; fresh stores
// trusting A's key realize it with zero builds; publishing again writes nothing; two publishers
// racing leave a complete cache; a tampered object is rejected in one line and built locally.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { startS3Server, type S3TestServer } from "./support/s3-server.ts";
import { openStore } from "../src/store/store.ts";
import { getBytes } from "../src/substitute/backends/backend.ts";
import { parseS3Url, s3ConfigFromEnv, S3Backend } from "../src/substitute/backends/s3-backend.ts";
import { openCache } from "../src/substitute/backends/open-cache.ts";
import { publishClosure } from "../src/substitute/server/publish.ts";
import { readPublicKeyFile, readSecretKeyFile, type PublicKey } from "../src/signing/keys.ts";
import { formatRecord, parseRecord, verifyRecord } from "../src/substitute/format/record.ts";
import { archiveKey, recordKey } from "../src/substitute/format/layout.ts";

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let s3: S3TestServer;
let secretKey: string;
let publicKey: string;
let trusted: PublicKey[];
let itemsA: Map<string, { drvHash: string; narHash: string; name: string; version: string; references: string[] }>;
const SPECS = ["trellis", "nifsum"];
const CACHE = "s3://beamix-cache/ci/cache";

const storeDir = (name: string) => join(work, "stores", name);
const repoArgs = () => ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: join(work, "config-empty"), HEX_MIRROR: "", HEX_MIRROR_URL: "", ...s3.env });
const backend = (url: string) => new S3Backend(url, { env: s3.env });

interface BuildJson {
  built: number;
  substituted: number;
  present: number;
  failed: { name: string; message: string }[];
}

async function build(store: string, extra: string[]): Promise<CliResult & { json: BuildJson }> {
  const r = await beamix(["build", ...SPECS, "--store", store, ...repoArgs(), "--json", ...extra], { env: env(), timeoutMs: 600_000 });
  try {
    return { ...r, json: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`beamix build printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const publish = (store: string, to: string, extra: string[] = []) =>
  beamix(["publish", ...SPECS, "--store", store, ...repoArgs(), "--to", to, "--sign-with", secretKey, ...extra], { env: env(), timeoutMs: 600_000 });

async function storeItems(dir: string) {
  const s = await openStore(dir);
  try {
    return new Map(s.listItems().map((i) => [i.path.split("/").pop()!, { drvHash: i.drvHash, narHash: i.narHash, name: i.name, version: i.version, references: i.references.map((r) => r.split("/").pop()!) }]));
  } finally {
    await s.close();
  }
}

async function assertSameAsA(dir: string): Promise<void> {
  const items = await storeItems(dir);
  assert.deepEqual([...items.keys()].sort(), [...itemsA.keys()].sort());
  for (const [k, v] of items) assert.equal(v.narHash, itemsA.get(k)!.narHash, k);
  const v = await beamix(["verify", "--store", dir, "--json"]);
  assert.deepEqual(JSON.parse(v.stdout).problems, []);
}

// Every record of the closure is there, signed by A's key, naming A's tree, its archive present.
async function assertCompleteCache(url: string): Promise<void> {
  const b = backend(url);
  try {
    for (const [name, item] of itemsA) {
      const text = await getBytes(b, recordKey(item.drvHash), 65536);
      assert.ok(text, `${url}: no record of ${name}`);
      const r = parseRecord(text.toString("utf8"), name);
      assert.equal(r.narHash, item.narHash, name);
      assert.deepEqual(r.references, [...item.references].sort(), name);
      assert.ok(verifyRecord(r, trusted, 1).ok, name);
      assert.equal(r.url, archiveKey(r.fileHash, "zstd"));
      assert.ok(await b.exists(r.url), `${url}: ${name}'s archive is missing`);
    }
  } finally {
    b.close();
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-substitute-s3-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  s3 = await startS3Server(join(work, "s3"));
  const keys = await beamix(["key", "generate", "s3-cache-1", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
  trusted = await readPublicKeyFile(publicKey);
  const pub = await publish(storeDir("a"), CACHE, ["--json"]);
  assert.equal(pub.code, 0, pub.stderr);
  assert.match(pub.stderr, /^6 pushed, 0 already in s3:\/\/beamix-cache\/ci\/cache$/m);
  assert.equal(JSON.parse(pub.stdout).cache, CACHE);
  itemsA = await storeItems(storeDir("a"));
  assert.equal(itemsA.size, 6);
});

after(async () => {
  await hexServer?.close();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

test("s3:// URLs and the environment: bucket and prefix, endpoint with path-style, no flexible checksums", () => {
  assert.deepEqual(parseS3Url("s3://beamix-cache"), { bucket: "beamix-cache", prefix: "" });
  assert.deepEqual(parseS3Url("s3://beamix-cache/a//b/"), { bucket: "beamix-cache", prefix: "a/b" });
  assert.equal(new S3Backend("s3://my.bucket/x/").url, "s3://my.bucket/x");
  assert.ok(openCache("s3://b-1/p") instanceof S3Backend);
  for (const bad of ["s3://", "s3://Upper/p", "s3://b", "s3://bucket/../x", "s3://bucket/p?region=x", "s3://bucket/a b"]) {
    assert.throws(() => parseS3Url(bad), /not an s3:\/\/BUCKET\/PREFIX URL|invalid bucket name|invalid prefix segment/, bad);
  }
  assert.throws(() => parseS3Url("s3://bucket/p?region=x"), /set AWS_REGION and AWS_ENDPOINT_URL instead/);

  const plain = s3ConfigFromEnv({ AWS_REGION: "eu-west-3", AWS_ACCESS_KEY_ID: "AK", AWS_SECRET_ACCESS_KEY: "SK" });
  assert.equal(plain.endpoint, undefined);
  assert.equal(plain.forcePathStyle, undefined);
  assert.equal(plain.region, "eu-west-3");
  assert.deepEqual(plain.credentials, { accessKeyId: "AK", secretAccessKey: "SK" });
  assert.equal(plain.requestChecksumCalculation, "WHEN_REQUIRED");
  assert.equal(plain.responseChecksumValidation, "WHEN_REQUIRED");
  const custom = s3ConfigFromEnv({ AWS_ENDPOINT_URL: "http://127.0.0.1:1", AWS_ENDPOINT_URL_S3: "http://127.0.0.1:2", AWS_SESSION_TOKEN: "T", AWS_ACCESS_KEY_ID: "AK", AWS_SECRET_ACCESS_KEY: "SK" });
  assert.equal(custom.endpoint, "http://127.0.0.1:2", "the S3-specific endpoint wins");
  assert.equal(custom.forcePathStyle, true);
  assert.equal(custom.region, "us-east-1", "a region for the signature when only an endpoint is set");
  assert.deepEqual(custom.credentials, { accessKeyId: "AK", secretAccessKey: "SK", sessionToken: "T" });
  assert.equal(s3ConfigFromEnv({ AWS_DEFAULT_REGION: "ap-south-1" }).credentials, undefined, "else the SDK's own chain");
});

test("publish to s3://: everything under the prefix, archives before their record, records after their references'", async () => {
  const client = new S3Client(s3ConfigFromEnv(s3.env));
  try {
    const all = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    const keys = (all.Contents ?? []).map((o) => o.Key!).sort();
    // beamix-cache-info, 6 records, 6 archives, and every item's compile-env hint
    assert.equal(keys.length, 19);
    assert.equal(keys.filter((k) => k.startsWith("ci/cache/compile-env/")).length, 6);
    assert.ok(keys.every((k) => k.startsWith("ci/cache/")), keys.join(" "));
    assert.deepEqual(await backend(CACHE).list(), keys.map((k) => k.slice("ci/cache/".length)));
    assert.deepEqual(await backend(CACHE).list("archives/"), keys.filter((k) => k.includes("/archives/")).map((k) => k.slice("ci/cache/".length)));
    const beacon = [...itemsA.values()].find((i) => i.name === "beacon")!;
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `ci/cache/${recordKey(beacon.drvHash)}` }));
    assert.equal(head.ContentType, "text/x-beamix-info; charset=utf-8");
  } finally {
    client.destroy();
  }
  await assertCompleteCache(CACHE);
  // The order the server saw the PUTs in: a record only after its archive and its references' records.
  const order = s3.puts.map((k) => k.slice("ci/cache/".length));
  assert.equal(order[0], "beamix-cache-info");
  const b = backend(CACHE);
  for (const [name, item] of itemsA) {
    const r = parseRecord((await getBytes(b, recordKey(item.drvHash), 65536))!.toString("utf8"), name);
    const at = order.indexOf(recordKey(item.drvHash));
    assert.ok(order.indexOf(r.url) >= 0 && order.indexOf(r.url) < at, `${name}: archive before record`);
    for (const ref of item.references) assert.ok(order.indexOf(recordKey(itemsA.get(ref)!.drvHash)) < at, `${name}: ${ref}'s record first`);
  }
  b.close();
});

test("a fresh store trusting A's key realizes the closure from s3:// with zero builds", async () => {
  const r = await build(storeDir("b"), ["--substituters", CACHE, "--trusted-key", publicKey]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^0 built, 6 substituted, 0 already present, 0 failed$/m);
  assert.doesNotMatch(r.stderr, /cannot substitute|not using substituter/);
  await assertSameAsA(storeDir("b"));
  const store = await openStore(storeDir("b"));
  const deriver = store.listItems()[0].deriver as { substitutedFrom: string };
  await store.close();
  assert.equal(deriver.substitutedFrom, CACHE);
});

test("publishing again skips everything: HeadObject only, no PUT", async () => {
  const before = s3.puts.length;
  const again = await publish(storeDir("a"), CACHE);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^0 pushed, 6 already in s3:\/\/beamix-cache\/ci\/cache$/m);
  assert.equal(s3.puts.length, before, `new PUTs: ${s3.puts.slice(before).join(" ")}`);
});

test("two publishers racing to one prefix leave a complete, valid cache", async (t) => {
  const race = "s3://beamix-cache/race";
  const [x, y] = await Promise.all([publish(storeDir("a"), race, ["--json"]), publish(storeDir("b"), race, ["--json"])]);
  assert.equal(x.code, 0, x.stderr);
  assert.equal(y.code, 0, y.stderr);
  const pushed = (r: CliResult) => (JSON.parse(r.stdout) as { pushed: string[] }).pushed.length;
  const present = (r: CliResult) => (JSON.parse(r.stdout) as { present: string[] }).present.length;
  assert.equal(pushed(x) + present(x), 6);
  assert.equal(pushed(y) + present(y), 6);
  assert.ok(pushed(x) + pushed(y) >= 6);
  t.diagnostic(`pushed: ${pushed(x)} and ${pushed(y)}`);
  assert.equal((await backend(race).list()).length, 19);
  await assertCompleteCache(race);
  const r = await build(storeDir("c-race"), ["--substituters", race, "--trusted-key", publicKey]);
  assert.match(r.stderr, /^0 built, 6 substituted, 0 already present, 0 failed$/m, r.stderr);
  await assertSameAsA(storeDir("c-race"));
});

// Publishes store A's closure to a new prefix (through the library) and tampers with beacon there.
async function tamperedPrefix(prefix: string, tamper: (b: S3Backend, recordKey: string, archive: string) => Promise<void>): Promise<string> {
  const url = `s3://beamix-cache/${prefix}`;
  const b = backend(url);
  const store = await openStore(storeDir("a"));
  try {
    await publishClosure(store, store.listItems().map((i) => i.path), b, { signWith: await readSecretKeyFile(secretKey) });
  } finally {
    await store.close();
  }
  const beacon = [...itemsA.values()].find((i) => i.name === "beacon")!;
  const rec = recordKey(beacon.drvHash);
  const r = parseRecord((await getBytes(b, rec, 65536))!.toString("utf8"), rec);
  await tamper(b, rec, r.url);
  b.close();
  return url;
}

async function assertRejectedThenBuilt(store: string, url: string, reason: RegExp): Promise<void> {
  const r = await build(store, ["--substituters", url, "--trusted-key", publicKey]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("cannot substitute"));
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith(`cannot substitute beacon 1.2.0 from ${url}: `), lines[0]);
  assert.match(lines[0], reason);
  assert.match(r.stderr, /^building beacon 1\.2\.0$/m);
  assert.match(r.stderr, /^1 built, 5 substituted, 0 already present, 0 failed$/m);
  await assertSameAsA(store);
}

test("a tampered object in the bucket is rejected in one line and the item built locally", async () => {
  const flipped = await tamperedPrefix("tampered-archive", async (b, _rec, archive) => {
    const bytes = (await getBytes(b, archive, 1 << 26))!;
    bytes[bytes.length >> 1] ^= 0x10;
    await b.put(archive, bytes);
  });
  await assertRejectedThenBuilt(storeDir("t-archive"), flipped, /zstd|hash does not match/);

  const edited = await tamperedPrefix("tampered-record", async (b, rec) => {
    const r = parseRecord((await getBytes(b, rec, 65536))!.toString("utf8"), rec);
    await b.put(rec, Buffer.from(formatRecord({ ...r, narHash: "0".repeat(64) })));
  });
  await assertRejectedThenBuilt(storeDir("t-record"), edited, /signature by s3-cache-1 does not verify$/);
});

test("S3 errors are one line naming the object: unknown credentials, missing bucket; a missing key is absent", async () => {
  const b = backend(CACHE);
  assert.equal(await b.get("0000000000000000.beamixinfo"), undefined);
  assert.equal(await b.exists("0000000000000000.beamixinfo"), false);
  b.close();
  const stranger = new S3Backend(CACHE, { env: { ...s3.env, AWS_ACCESS_KEY_ID: "NOBODY" } });
  await assert.rejects(stranger.get("beamix-cache-info"), /^BeamixError: GET s3:\/\/beamix-cache\/ci\/cache\/beamix-cache-info: access denied \(HTTP 403, InvalidAccessKeyId\)/);
  await assert.rejects(stranger.exists("beamix-cache-info"), /^BeamixError: HEAD s3:\/\/beamix-cache\/ci\/cache\/beamix-cache-info: access denied \(HTTP 403\): check the credentials/);
  stranger.close();
  const nowhere = backend("s3://no-such-bucket/x");
  await assert.rejects(nowhere.get("beamix-cache-info"), /GET s3:\/\/no-such-bucket\/x\/beamix-cache-info: no such bucket/);
  await assert.rejects(nowhere.put("beamix-cache-info", Buffer.from("x")), /PUT s3:\/\/no-such-bucket\/x\/beamix-cache-info: no such bucket/);
  nowhere.close();
  // Through the CLI: the publish fails with that one line.
  const r = await publish(storeDir("a"), "s3://no-such-bucket/x");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^beamix: GET s3:\/\/no-such-bucket\/x\/beamix-cache-info: no such bucket$/m);
});

// A stand-in S3 endpoint that misbehaves on purpose: the first PUT of each key fails with a 500
// after its body was read; GETs send part of the body and stall.
async function startFlakyEndpoint() {
  const bodies = new Map<string, Buffer[]>();
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const key = decodeURIComponent(new URL(req.url!, "http://x").pathname);
      if (req.method === "PUT") {
        const seen = bodies.get(key) ?? [];
        seen.push(Buffer.concat(chunks));
        bodies.set(key, seen);
        if (seen.length === 1) {
          res.writeHead(500, { "content-type": "application/xml" });
          res.end("<Error><Code>InternalError</Code><Message>try again</Message></Error>");
        } else {
          res.writeHead(200, { etag: '"x"' });
          res.end();
        }
      } else {
        res.writeHead(200, { "content-length": "1000", "content-type": "application/octet-stream" });
        res.write(Buffer.alloc(10, 1));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    bodies,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

test("an upload that failed with a 500 is retried with its body read afresh; a stalled download times out", async () => {
  const flaky = await startFlakyEndpoint();
  const b = new S3Backend("s3://bucket/p", { env: { AWS_ENDPOINT_URL_S3: flaky.endpoint, AWS_ACCESS_KEY_ID: "AK", AWS_SECRET_ACCESS_KEY: "SK", AWS_EC2_METADATA_DISABLED: "true" } });
  try {
    const parts = [Buffer.alloc(70_000, 1), Buffer.alloc(50_000, 2)];
    let opened = 0;
    await b.put("archives/x.nar.zst", {
      size: 120_000,
      open: async function* () {
        opened++;
        for (const p of parts) yield p;
      },
    });
    assert.equal(opened, 2);
    const got = flaky.bodies.get("/bucket/p/archives/x.nar.zst")!;
    assert.equal(got.length, 2);
    assert.ok(got.every((body) => body.equals(Buffer.concat(parts))), "both attempts sent the whole body, unencoded");

    const body = (await b.get("archives/y.nar.zst", { idleTimeoutMs: 300 }))!;
    assert.equal(body.size, 1000);
    await assert.rejects(
      (async () => {
        for await (const c of body) void c;
      })(),
      /^BeamixError: GET s3:\/\/bucket\/p\/archives\/y\.nar\.zst: no data for 0\.3 s after 10 bytes \(time-out\)$/,
    );
  } finally {
    b.close();
    await flaky.close();
  }
});
