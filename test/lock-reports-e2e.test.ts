// What one asks of a Mix project's lock, through the CLI, on the fixture registry: `beamix lock`
// writes it, `beamix deps tree` shows it, `beamix outdated` says what newer releases the
// requirements allow, and `beamix audit` reports a retired release (the registry is re-signed
// with a retirement, as hex.pm records one).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix, type CliResult } from "./support/cli.ts";
import { fixturesDir, makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { decodePackage, decodeSigned, encodePackage } from "../src/hex/registry/proto.ts";
import { signResource } from "../src/hex/registry/signed.ts";
import { gunzip } from "../src/hex/gzip.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;
let project: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-lock-reports-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
  project = join(work, "hello_beacon");
  await cp(join(fixturesDir, "consumers", "hello_beacon"), project, { recursive: true });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const env = () => ({
  BEAMIX_CONFIG_DIR: join(work, "config"),
  HEX_HOME: join(work, "hex-home"),
  BEAMIX_CACHE_DIR: join(work, "cache"),
  HEX_MIRROR: server.url,
  HEX_MIRROR_URL: "",
  HEX_OFFLINE: "",
  BEAMIX_HEX_PUBLIC_KEY: registry.publicKeyPath,
  MIX_ENV: "",
});

const run = (args: string[]) => beamix(args, { env: env(), timeoutMs: 300_000 });

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

test("beamix lock, then deps tree: the project's dependencies as the lock pins them", async () => {
  ok(await run(["lock", project]), "lock");
  assert.match(await readFile(join(project, "mix.lock"), "utf8"), /^  "beacon": \{:hex, :beacon, "1\.2\.0", /m);
  assert.deepEqual(ok(await run(["deps", "tree", project]), "deps tree").stdout.split("\n"), ["hello_beacon", "└── beacon ~> 1.1 (Hex package) 1.2.0", ""]);
  const json = JSON.parse(ok(await run(["deps", "tree", project, "--json"]), "deps tree --json").stdout);
  assert.deepEqual(json, { app: "hello_beacon", deps: [{ app: "beacon", requirement: "~> 1.1", scm: "hex", deps: [], package: "beacon", version: "1.2.0", repo: "hexpm" }] });
});

test("beamix outdated: the newest release the requirements allow, and the newest overall", async () => {
  const r = JSON.parse(ok(await run(["outdated", project, "--json"]), "outdated").stdout);
  assert.deepEqual(
    r.packages.map((p: { app: string; current: string; allowed: string; latest: string; status: string }) => [p.app, p.current, p.allowed, p.latest, p.status]),
    [["beacon", "1.2.0", "1.2.0", "2.0.0", "update not possible"]],
  );
  // Pinned at an older release the requirement allows: an update is possible.
  const lock = await readFile(join(project, "mix.lock"), "utf8");
  await writeFile(join(project, "mix.lock"), lock.replace(/:beacon, "1\.2\.0"/, ':beacon, "1.1.0"'));
  const text = ok(await run(["outdated", project]), "outdated").stdout;
  assert.match(text, /^beacon +1\.1\.0 +1\.2\.0 +2\.0\.0 +update possible$/m);
  await writeFile(join(project, "mix.lock"), lock);
});

test("beamix audit: none retired, then a retirement recorded by the registry is reported, exit 1", async () => {
  assert.equal(ok(await run(["audit", project]), "audit").stdout, "No retired packages found\n");
  const file = join(registry.dir, "packages", "beacon");
  const pkg = decodePackage(decodeSigned(gunzip(await readFile(file), 1 << 24)).payload);
  pkg.releases.find((r) => r.version === "1.2.0")!.retired = { reason: "security", message: "use 2.0" };
  await writeFile(file, signResource(encodePackage(pkg), registry.privateKeyPem));
  const r = await run(["audit", project]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^beacon +1\.2\.0 +\(security\) use 2\.0$/m);
  const json = JSON.parse((await run(["audit", project, "--json"])).stdout);
  assert.deepEqual(json.retired, [{ app: "beacon", package: "beacon", repo: "hexpm", version: "1.2.0", reason: "security", message: "use 2.0" }]);
});
