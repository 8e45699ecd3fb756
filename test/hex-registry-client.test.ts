// HexRepo against the registry the real Hex wrote (test/vectors/hex/registry/public), served
// over HTTP by a local test server and read through file:// URLs, plus every way a repository
// or a mirror can lie: each must fail with its own message and leave nothing in the cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BeamixError } from "../src/errors.ts";
import { HEXPM_PUBLIC_KEY_PEM } from "../src/hex/hexpm-key.ts";
import { gunzip, gzipRegistry } from "../src/hex/gzip.ts";
import { buildRegistry } from "../src/hex/registry/build.ts";
import { HexRepo, hexpmRepoConfig, type HexRepoConfig } from "../src/hex/registry/client.ts";
import { hexInfo } from "../src/hex/registry/info.ts";
import { decodePackage, decodeSigned, encodePackage, encodeSigned } from "../src/hex/registry/proto.ts";
import { signResource } from "../src/hex/registry/signed.ts";
import { getUrl } from "../src/hex/registry/transport.ts";
import { startStaticServer, type Route, type StaticServer } from "./support/static-server.ts";
import { readTarball } from "../src/hex/tarball.ts";

const VEC = "test/vectors/hex/registry";
const PUBLIC = join(VEC, "public");
const PRIVATE_KEY = readFileSync(join(VEC, "private_key.pem"), "utf8");
const PUBLIC_KEY = readFileSync(join(PUBLIC, "public_key"), "utf8");
const CORE_TAR = readFileSync(join(PUBLIC, "tarballs/vec_core-0.3.0.tar"));
const CORE_OUTER = "c4c94e15a54b6f0be309daf02fbae1a3ca7d54476b9d3e9f5bf8f7aed36f7c53";
const CORE_INNER = "f8db6f61bbe783b85b99c6373134b17d633908172ab86d09b83a4882567181cf";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function tempDir(t: { after(fn: () => unknown): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(t: { after(fn: () => unknown): void }, root: string, routes?: Record<string, Route>): Promise<StaticServer> {
  const server = await startStaticServer({ root, routes });
  t.after(() => server.close());
  return server;
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function repo(url: string, cacheDir: string, extra: Partial<HexRepoConfig> = {}): HexRepo {
  return new HexRepo({ name: "vectors", url, publicKeyPem: PUBLIC_KEY, cacheDir, timeoutMs: 5000, ...extra });
}

// Expects `promise` to fail with a BeamixError matching `pattern`, and the cache to stay empty
// (but for `kept`: registry records that did verify, when only what came after them failed).
async function rejectsCleanly(promise: Promise<unknown>, pattern: RegExp, cacheDir: string, kept: string[] = []): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof BeamixError, `expected a BeamixError, got ${err.stack}`);
    assert.match(err.message, pattern);
    return true;
  });
  assert.deepEqual((await filesUnder(cacheDir)).sort(), kept, "nothing is cached after a failure");
}

test("HexRepo over HTTP reads names, versions and packages as Hex wrote them", async (t) => {
  const server = await serve(t, PUBLIC);
  const r = repo(`${server.url}/`, await tempDir(t, "beamix-cache-"));
  const names = await r.names();
  assert.equal(names.repository, "vectors");
  assert.deepEqual(
    names.packages.map((p) => [p.name, p.updatedAt?.seconds]),
    [
      ["vec_alias", 1714521600],
      ["vec_core", 1711929600],
      ["vec_erl", 1706745600],
      ["vec_opt", 1709251200],
    ],
  );
  const versions = await r.versions();
  assert.deepEqual(
    versions.packages.map((p) => [p.name, p.versions, p.retired]),
    [
      ["vec_alias", ["0.2.0"], []],
      ["vec_core", ["0.3.0"], []],
      ["vec_erl", ["1.0.0", "1.1.0"], []],
      ["vec_opt", ["0.1.0"], []],
    ],
  );
  const core = await r.package("vec_core");
  assert.equal(core.releases[0].outerChecksum?.toString("hex"), CORE_OUTER);
  assert.equal(core.releases[0].innerChecksum.toString("hex"), CORE_INNER);
  assert.deepEqual(core.releases[0].dependencies, [
    { package: "vec_erl", requirement: "~> 1.0", optional: false, app: "vec_erl", repository: "vectors" },
    { package: "vec_opt", requirement: "~> 0.1", optional: true, app: "vec_opt", repository: "vectors" },
  ]);
  await r.package("vec_core"); // remembered: asked for once
  assert.deepEqual(server.requests, ["/names", "/versions", "/packages/vec_core"]);
});

test("tarball(): verified against the registry, cached by outer checksum, re-verified on a hit", async (t) => {
  const server = await serve(t, PUBLIC);
  const cacheDir = await tempDir(t, "beamix-cache-");
  const first = await repo(server.url, cacheDir).tarball("vec_core", "0.3.0");
  assert.equal(first.fromCache, false);
  assert.equal(first.path, join(cacheDir, "tarballs", `sha256-${CORE_OUTER}.tar`));
  assert.deepEqual(await readFile(first.path), CORE_TAR);
  assert.deepEqual(first.bytes, CORE_TAR);
  assert.equal(first.outerChecksum, CORE_OUTER);
  assert.equal(first.innerChecksum, CORE_INNER);
  assert.equal(first.metadata.name, "vec_core");
  // The tarball, and the parse of its (verified) metadata.config, kept by the hash of the text.
  const metadataText = readTarball(CORE_TAR).metadataText;
  const metadataHash = createHash("sha256").update(metadataText).digest("hex");
  assert.deepEqual((await filesUnder(cacheDir)).sort(), [`${metadataHash}.etf`, `sha256-${CORE_OUTER}.tar`, "vec_core.json"].sort());

  // A new client: the record is revalidated, the tarball comes from the cache.
  server.requests.length = 0;
  server.statuses.length = 0;
  const second = await repo(server.url, cacheDir).tarball("vec_core", "0.3.0");
  assert.equal(second.fromCache, true);
  assert.deepEqual(second.bytes, CORE_TAR);
  assert.deepEqual(server.requests, ["/packages/vec_core"]);
  assert.deepEqual(server.statuses, [304]); // the verified record was kept with its ETag

  // A damaged cache entry is not used: it is fetched again and replaced.
  await writeFile(first.path, Buffer.concat([CORE_TAR.subarray(0, 100), Buffer.from("x"), CORE_TAR.subarray(101)]));
  server.requests.length = 0;
  const third = await repo(server.url, cacheDir).tarball("vec_core", "0.3.0");
  assert.equal(third.fromCache, false);
  assert.deepEqual(server.requests, ["/packages/vec_core", "/tarballs/vec_core-0.3.0.tar"]);
  assert.equal(sha256(await readFile(first.path)), CORE_OUTER);
});

test("package records are kept with their ETag: a new client revalidates; changed or damaged ones are fetched and verified again", async (t) => {
  const server = await serve(t, PUBLIC);
  const cacheDir = await tempDir(t, "beamix-cache-");
  const first = await repo(server.url, cacheDir).package("vec_core");
  const [kept] = (await readdir(cacheDir, { recursive: true })).filter((f) => f.endsWith("vec_core.json"));
  assert.ok(kept, "the verified record is kept");

  // Not modified: the same record, without a download.
  server.requests.length = 0;
  server.statuses.length = 0;
  assert.deepEqual(await repo(server.url, cacheDir).package("vec_core"), first);
  assert.deepEqual(server.statuses, [304]);

  // The repository's copy changed (here: tampered with): it is downloaded and must verify again.
  const flipped = Buffer.from(CORE_RECORD);
  flipped[flipped.length - 40] ^= 1;
  server.routes.set("/packages/vec_core", { body: flipped });
  await assert.rejects(repo(server.url, cacheDir).package("vec_core"), (err: Error) => err instanceof BeamixError && /vec_core/.test(err.message));
  server.routes.delete("/packages/vec_core");

  // Another repository URL or key does not share the kept records.
  const other = await serve(t, PUBLIC);
  other.statuses.length = 0;
  await repo(other.url, cacheDir).package("vec_core");
  assert.deepEqual(other.statuses, [200]);

  // A damaged cache file is ignored (never trusted), and written again from a verified download.
  await writeFile(join(cacheDir, kept), '{"format":1,"etag":"x","package":{"name":"vec_core","repository":"vectors","releases":[{"version":"0.3.0"}]}}');
  server.statuses.length = 0;
  assert.deepEqual(await repo(server.url, cacheDir).package("vec_core"), first);
  assert.deepEqual(server.statuses, [200]);
  server.statuses.length = 0;
  assert.deepEqual(await repo(server.url, cacheDir).package("vec_core"), first);
  assert.deepEqual(server.statuses, [304]);
});

test("HexRepo reads a repository through a file:// URL", async (t) => {
  const cacheDir = await tempDir(t, "beamix-cache-");
  const r = repo(pathToFileURL(PUBLIC).href, cacheDir);
  await rejectsCleanly(r.package("vec_nope"), /^registry vectors: no package vec_nope \(file:.*\/packages\/vec_nope: no such file\)$/, cacheDir);
  assert.deepEqual((await r.names()).packages.map((p) => p.name), ["vec_alias", "vec_core", "vec_erl", "vec_opt"]);
  const t1 = await r.tarball("vec_erl", "1.1.0");
  assert.equal(t1.outerChecksum, "a3be600d07f1c7abde3cd5a4ad686f9d4e17f19aa1787c8dbe75cfb787d00d6c");
  assert.deepEqual(await readFile(t1.path), readFileSync(join(PUBLIC, "tarballs/vec_erl-1.1.0.tar")));
});

// --- a repository that lies -------------------------------------------------------------------

function resign(file: Buffer, change: (s: { payload: Buffer; signature: Buffer }) => void): Buffer {
  const signed = decodeSigned(gunzip(file, 1 << 20));
  const copy = { payload: Buffer.from(signed.payload), signature: Buffer.from(signed.signature) };
  change(copy);
  return gzipRegistry(encodeSigned(copy));
}

const CORE_RECORD = readFileSync(join(PUBLIC, "packages/vec_core"));
const BAD_SIGNATURE = /^registry vectors: signature of packages\/vec_core does not verify with the repository's public key$/;

test("a flipped byte in a payload is rejected", async (t) => {
  const body = resign(CORE_RECORD, (s) => (s.payload[30] ^= 1));
  const server = await serve(t, PUBLIC, { "/packages/vec_core": { body } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(repo(server.url, cacheDir).tarball("vec_core", "0.3.0"), BAD_SIGNATURE, cacheDir);
});

test("a flipped byte in a signature is rejected", async (t) => {
  const body = resign(CORE_RECORD, (s) => (s.signature[0] ^= 1));
  const server = await serve(t, PUBLIC, { "/packages/vec_core": { body } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(repo(server.url, cacheDir).tarball("vec_core", "0.3.0"), BAD_SIGNATURE, cacheDir);
});

test("a repository signed with another key is rejected", async (t) => {
  const server = await serve(t, PUBLIC);
  const cacheDir = await tempDir(t, "beamix-cache-");
  const r = repo(server.url, cacheDir, { publicKeyPem: HEXPM_PUBLIC_KEY_PEM });
  await rejectsCleanly(r.tarball("vec_core", "0.3.0"), BAD_SIGNATURE, cacheDir);
  await rejectsCleanly(r.names(), /^registry vectors: signature of names does not verify/, cacheDir);
});

test("records of a repository with another name are rejected", async (t) => {
  // The same tarballs and key, built as repository "impostor".
  const dir = await tempDir(t, "beamix-registry-");
  await cp(join(PUBLIC, "tarballs"), join(dir, "tarballs"), { recursive: true });
  await buildRegistry({ dir, name: "impostor", privateKeyPem: PRIVATE_KEY });
  const server = await serve(t, dir);
  const cacheDir = await tempDir(t, "beamix-cache-");
  const r = repo(server.url, cacheDir);
  const wrongRepo = (res: string) => new RegExp(`^registry vectors: ${res} belongs to repository "impostor", not "vectors"$`);
  await rejectsCleanly(r.tarball("vec_core", "0.3.0"), wrongRepo("packages/vec_core"), cacheDir);
  await rejectsCleanly(r.names(), wrongRepo("names"), cacheDir);
  await rejectsCleanly(r.versions(), wrongRepo("versions"), cacheDir);
});

test("a package record served under another package's name is rejected", async (t) => {
  const server = await serve(t, PUBLIC, { "/packages/vec_core": { body: readFileSync(join(PUBLIC, "packages/vec_opt")) } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(
    repo(server.url, cacheDir).tarball("vec_core", "0.3.0"),
    /^registry vectors: packages\/vec_core holds the record of package "vec_opt", not vec_core$/,
    cacheDir,
  );
});

test("a tarball whose checksum differs from the registry is rejected", async (t) => {
  // A genuine vec_core 0.3.0 tarball packed in another file order: valid, but not the registered one.
  const other = readFileSync("test/vectors/hex/tarball-variants/vec_core-0.3.0.tmpfs-order.tar");
  const server = await serve(t, PUBLIC, { "/tarballs/vec_core-0.3.0.tar": { body: other } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(
    repo(server.url, cacheDir).tarball("vec_core", "0.3.0"),
    new RegExp(
      `^registry vectors: ${server.url}/tarballs/vec_core-0\\.3\\.0\\.tar has sha256 ${sha256(other)}, but the registry's outer checksum for vec_core 0\\.3\\.0 is ${CORE_OUTER}$`,
    ),
    cacheDir,
    ["vec_core.json"],
  );
});

test("a signed record whose inner checksum differs from the tarball's is rejected", async (t) => {
  const pkg = decodePackage(decodeSigned(gunzip(CORE_RECORD, 1 << 20)).payload);
  pkg.releases[0].innerChecksum = Buffer.alloc(32, 0xab);
  const body = signResource(encodePackage(pkg), PRIVATE_KEY);
  const server = await serve(t, PUBLIC, { "/packages/vec_core": { body } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(
    repo(server.url, cacheDir).tarball("vec_core", "0.3.0"),
    new RegExp(`has inner checksum ${CORE_INNER}, but the registry says ${"ab".repeat(32)} for vec_core 0\\.3\\.0$`),
    cacheDir,
    ["vec_core.json"], // the signed record itself verified: kept (for offline use), the tarball not
  );
});

test("missing packages, releases and tarballs, and HTTP errors, name the URL", async (t) => {
  const server = await serve(t, PUBLIC, {
    "/packages/vec_opt": { status: 500, body: "boom" },
    "/tarballs/vec_erl-1.1.0.tar": { status: 404 },
  });
  const cacheDir = await tempDir(t, "beamix-cache-");
  const r = repo(server.url, cacheDir);
  const url = server.url.replace(/\./g, "\\.");
  await rejectsCleanly(r.package("vec_nope"), new RegExp(`^registry vectors: no package vec_nope \\(${url}/packages/vec_nope: HTTP 404\\)$`), cacheDir);
  await rejectsCleanly(r.tarball("vec_opt", "0.1.0"), new RegExp(`^GET ${url}/packages/vec_opt returned HTTP 500$`), cacheDir);
  await rejectsCleanly(r.tarball("vec_core", "9.9.9"), /^registry vectors: package vec_core has no release 9\.9\.9$/, cacheDir, ["vec_core.json"]);
  await rejectsCleanly(
    r.tarball("vec_erl", "1.1.0"),
    new RegExp(`^registry vectors: tarball vec_erl 1\\.1\\.0 not found at ${url}/tarballs/vec_erl-1\\.1\\.0\\.tar \\(HTTP 404\\)$`),
    cacheDir,
    ["vec_core.json", "vec_erl.json"],
  );
  await rejectsCleanly(r.package("../names"), /is not a valid Hex package name/, cacheDir, ["vec_core.json", "vec_erl.json"]);
  await rejectsCleanly(r.tarball("vec_core", "0.3.0/../../x"), /is not a valid version/, cacheDir, ["vec_core.json", "vec_erl.json"]);
  assert.ok(!server.requests.some((p) => p.includes("..")));
});

// The message names the 200 ms limit that ended the request; the test's time-out guards a hang.
test("a server that never answers times out, naming the URL", { timeout: 60_000 }, async (t) => {
  const server = await serve(t, PUBLIC, { "/packages/vec_core": { hang: true } });
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(
    repo(server.url, cacheDir, { timeoutMs: 200 }).tarball("vec_core", "0.3.0"),
    new RegExp(`^GET ${server.url.replace(/\./g, "\\.")}/packages/vec_core: no complete answer within 200 ms$`),
    cacheDir,
  );
});

test("an unreachable server is an error naming the URL", async (t) => {
  const server = await startStaticServer({ root: PUBLIC });
  const url = server.url;
  await server.close();
  const cacheDir = await tempDir(t, "beamix-cache-");
  await rejectsCleanly(repo(url, cacheDir).names(), new RegExp(`^GET ${url.replace(/\./g, "\\.")}/names: the connection failed: connect ECONNREFUSED`), cacheDir);
});

test("responses larger than the limit are refused over HTTP and file://", async (t) => {
  const server = await serve(t, PUBLIC);
  await assert.rejects(
    getUrl(`${server.url}/tarballs/vec_core-0.3.0.tar`, { timeoutMs: 5000, maxBytes: 1000 }),
    /vec_core-0\.3\.0\.tar: 6656 bytes is more than the limit of 1000$/,
  );
  await assert.rejects(
    getUrl(pathToFileURL(join(PUBLIC, "tarballs/vec_core-0.3.0.tar")).href, { timeoutMs: 5000, maxBytes: 1000 }),
    /vec_core-0\.3\.0\.tar: 6656 bytes is more than the limit of 1000$/,
  );
  // Without a Content-Length the body is counted as it arrives.
  const chunked = createServer((_req, res) => {
    res.writeHead(200); // no Content-Length: chunked encoding
    res.write(Buffer.alloc(600));
    res.end(Buffer.alloc(600));
  });
  await new Promise<void>((r) => chunked.listen(0, "127.0.0.1", r));
  t.after(() => chunked.close());
  const port = (chunked.address() as AddressInfo).port;
  await assert.rejects(getUrl(`http://127.0.0.1:${port}/x`, { timeoutMs: 5000, maxBytes: 1000 }), /more than the limit of 1000 bytes$/);
  const exact = await getUrl(`${server.url}/tarballs/vec_core-0.3.0.tar`, { timeoutMs: 5000, maxBytes: 6656 });
  assert.ok(exact.found && exact.body.equals(CORE_TAR));
  await assert.rejects(getUrl("ftp://example.invalid/x", { timeoutMs: 5000, maxBytes: 1 }), /unsupported URL scheme/);
});

test("hexpm defaults: HEX_MIRROR changes the URL only; a mirror must still be signed by hexpm", async (t) => {
  const cacheDir = await tempDir(t, "beamix-cache-");
  const plain = hexpmRepoConfig({ cacheDir, env: {} });
  assert.deepEqual([plain.name, plain.url, plain.publicKeyPem], ["hexpm", "https://repo.hex.pm", HEXPM_PUBLIC_KEY_PEM]);
  assert.equal(hexpmRepoConfig({ cacheDir, env: { HEX_MIRROR: "https://m1.example" } }).url, "https://m1.example");
  assert.equal(
    hexpmRepoConfig({ cacheDir, env: { HEX_MIRROR: "https://m1.example", HEX_MIRROR_URL: "https://m2.example" } }).url,
    "https://m2.example",
  );

  // A "mirror" serving a registry it signed itself (our vectors registry) is refused.
  const server = await serve(t, PUBLIC);
  const mirrored = new HexRepo(hexpmRepoConfig({ cacheDir, env: { HEX_MIRROR: server.url }, timeoutMs: 5000 }));
  assert.equal(mirrored.name, "hexpm");
  await rejectsCleanly(mirrored.tarball("vec_core", "0.3.0"), /^registry hexpm: signature of packages\/vec_core does not verify/, cacheDir);
});

test("hexInfo lists releases newest first with dependencies and retirement", async (t) => {
  const dir = await tempDir(t, "beamix-registry-");
  await cp(PUBLIC, dir, { recursive: true });
  // Add a retired 1.2.0 to vec_erl's record (Hex's registry builder cannot retire releases).
  const erl = decodePackage(decodeSigned(gunzip(readFileSync(join(PUBLIC, "packages/vec_erl")), 1 << 20)).payload);
  erl.releases[0].retired = { reason: "security", message: "use 1.1.0" };
  erl.releases.push({ ...erl.releases[1], version: "1.2.0-rc.0", dependencies: [{ package: "x", requirement: "~> 2.0", optional: false, app: "x_app", repository: "hexpm" }] });
  await writeFile(join(dir, "packages/vec_erl"), signResource(encodePackage(erl), PRIVATE_KEY));
  const server = await serve(t, dir);
  const r = repo(server.url, await tempDir(t, "beamix-cache-"));

  const info = await hexInfo(r, "vec_erl");
  assert.equal(info.url, `${server.url}/packages/vec_erl`);
  assert.deepEqual(
    info.releases.map((x) => [x.version, x.retired, x.dependencies]),
    [
      ["1.2.0-rc.0", undefined, [{ package: "x", app: "x_app", requirement: "~> 2.0", optional: false, repository: "hexpm" }]],
      ["1.1.0", undefined, []],
      ["1.0.0", { reason: "security", message: "use 1.1.0" }, []],
    ],
  );
  const core = await hexInfo(r, "vec_core");
  assert.deepEqual(core.releases[0].dependencies, [
    { package: "vec_erl", app: "vec_erl", requirement: "~> 1.0", optional: false, repository: "vectors" },
    { package: "vec_opt", app: "vec_opt", requirement: "~> 0.1", optional: true, repository: "vectors" },
  ]);
  assert.equal(core.releases[0].outerChecksum, CORE_OUTER);
});

test("hexInfo shows a dependency on another repository (registry/hexpm-deps)", async (t) => {
  const server = await serve(t, join(VEC, "hexpm-deps/public"));
  const info = await hexInfo(repo(server.url, await tempDir(t, "beamix-cache-")), "vec_core");
  assert.deepEqual(
    info.releases[0].dependencies.map((d) => [d.package, d.repository, d.optional]),
    [
      ["vec_erl", "hexpm", false],
      ["vec_opt", "hexpm", true],
    ],
  );
});
