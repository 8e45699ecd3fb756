// `beamix hex serve` (src/hex/registry/serve-static.ts) and `beamix hex registry build
// --generate-key`: the fixture corpus as a signed registry, served read-only on loopback and read
// back through beamix's own verifying client; raw requests probe what must not be served.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix } from "./support/cli.ts";
import { fixturePackageDirs, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startHexServer, type HexServer } from "../src/hex/registry/serve-static.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { hexInfo } from "../src/hex/registry/info.ts";

const mainJs = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

let work: string;
let registry: FixtureRegistry;
let server: HexServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-hex-serve-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  // Beside the repository's files: a private key and a symlink out of it, neither to be served.
  await writeFile(join(registry.dir, "private_key.pem"), registry.privateKeyPem, { mode: 0o600 });
  await writeFile(join(work, "secret"), "not for clients");
  await symlink(join(work, "secret"), join(registry.dir, "packages", "escape"));
  server = await startHexServer({ dir: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

// A request with the path exactly as given (fetch and URL would normalize `..` away).
function raw(path: string, opts: { method?: string; headers?: Record<string, string>; url?: string } = {}): Promise<Raw> {
  const base = new URL(opts.url ?? server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("beamix's client reads the served repository and verifies every record and tarball", async () => {
  const repo = new HexRepo({ name: "hexpm", url: server.url, publicKeyPem: registry.publicKeyPem, cacheDir: join(work, "client-cache") });
  const info = await hexInfo(repo, "trellis");
  assert.deepEqual(info.releases.map((r) => r.version), ["0.9.0"]);
  const t = await repo.tarball("beacon", "1.2.0");
  assert.equal(t.metadata.name, "beacon");
  assert.equal((await raw("/public_key")).body.toString(), await readFile(registry.publicKeyPath, "utf8"));
});

test("only the repository's resources are served; climbing, other files and symlinks out are refused", async () => {
  for (const path of ["/names", "/versions", "/public_key", "/packages/trellis", "/tarballs/trellis-0.9.0.tar"]) {
    assert.equal((await raw(path)).status, 200, path);
  }
  const refused: [string, number][] = [
    ["/private_key.pem", 404],
    ["/tarballs", 404],
    ["/packages/escape", 404], // a symlink out of the repository
    ["/packages/no_such_package", 404],
    ["/tarballs/trellis-x.tar", 404], // not a version
    ["/tarballs/../private_key.pem", 400],
    ["/packages/..%2fprivate_key.pem", 400],
    ["/%2e%2e/secret", 400],
    ["/packages/a%5cb", 400],
    ["/names%00", 400],
    ["/", 404],
  ];
  for (const [path, status] of refused) {
    const r = await raw(path);
    assert.equal(r.status, status, path);
    assert.ok(!r.body.includes("BEGIN PRIVATE KEY") && !r.body.includes("not for clients"), path);
  }
  const post = await raw("/names", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, "GET, HEAD");
});

test("ETag and If-None-Match: 304 until the file changes; HEAD has GET's headers and no body", async () => {
  const first = await raw("/packages/beacon");
  const etag = first.headers.etag as string;
  assert.match(etag, /^"[0-9a-f]{64}"$/);
  assert.equal(first.headers["content-length"], String(first.body.length));
  assert.equal((await raw("/packages/beacon", { headers: { "if-none-match": etag } })).status, 304);
  assert.equal((await raw("/packages/beacon", { headers: { "if-none-match": `"other", W/${etag}` } })).status, 304);
  const head = await raw("/packages/beacon", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.etag, etag);
  assert.equal(head.headers["content-length"], String(first.body.length));
  assert.equal(head.body.length, 0);

  // A rebuilt registry changes the file in place: the old tag no longer matches.
  const dir = join(work, "changing");
  await mkdir(join(dir, "packages"), { recursive: true });
  await writeFile(join(dir, "names"), "one");
  await writeFile(join(dir, "packages", "p"), "first");
  const s = await startHexServer({ dir });
  try {
    const a = await raw("/packages/p", { url: s.url });
    await writeFile(join(dir, "packages", "p"), "second, longer");
    const b = await raw("/packages/p", { url: s.url, headers: { "if-none-match": a.headers.etag as string } });
    assert.equal(b.status, 200);
    assert.equal(b.body.toString(), "second, longer");
    assert.notEqual(b.headers.etag, a.headers.etag);
  } finally {
    await s.close();
  }
});

test("bounded: a file over the size limit is not served; a directory that is not a repository is refused", async () => {
  const small = await startHexServer({ dir: registry.dir, maxFileBytes: 1024 });
  try {
    assert.equal((await raw("/names", { url: small.url })).status, 200);
    assert.equal((await raw("/tarballs/trellis-0.9.0.tar", { url: small.url })).status, 500);
  } finally {
    await small.close();
  }
  await assert.rejects(startHexServer({ dir: join(work, "nowhere") }), /cannot serve it/);
  await assert.rejects(startHexServer({ dir: join(registry.dir, "tarballs") }), /not a Hex repository/);
});

test("beamix hex serve prints its URL, serves the repository to beamix hex info, and stops on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", mainJs, "hex", "serve", registry.dir, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(out.trim());
      });
      child.on("exit", (code) => reject(new Error(`beamix hex serve exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const env = { BEAMIX_CACHE_DIR: join(work, "cli-cache"), HEX_MIRROR: url, HEX_MIRROR_URL: "", BEAMIX_HEX_PUBLIC_KEY: registry.publicKeyPath };
    const r = await beamix(["hex", "info", "trellis", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).name, "trellis");
  } finally {
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  }
});

test("hex registry build --generate-key makes an RSA key (mode 0600) once and signs with it", async () => {
  const dir = join(work, "keyed");
  await mkdir(join(dir, "tarballs"), { recursive: true });
  const [beacon] = (await fixturePackageDirs()).filter((d) => d.endsWith("beacon-1.2.0"));
  assert.equal((await beamix(["hex", "pack", beacon, "-o", join(dir, "tarballs") + "/"])).code, 0);
  const key = join(work, "registry-key.pem");
  const missing = await beamix(["hex", "registry", "build", dir, "--private-key", key]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read private key .*ENOENT.*--generate-key/);

  const made = await beamix(["hex", "registry", "build", dir, "--private-key", key, "--generate-key"]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /generated RSA key/);
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.match(await readFile(key, "utf8"), /BEGIN PRIVATE KEY/);
  const publicKey = await readFile(join(dir, "public_key"), "utf8");

  const again = await beamix(["hex", "registry", "build", dir, "--private-key", key, "--generate-key"]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /generated/);
  assert.equal(await readFile(join(dir, "public_key"), "utf8"), publicKey, "the existing key is used as it is");
});
