// Registry rollback (issue 12): a correctly signed but older package record, replayed by a mirror,
// must not silently bring back a deleted release or hide a retirement. The client compares every
// new record with the verified copy it holds (BEAMIX_CACHE_DIR) and refuses one that lost
// releases or retirements, in one line, unless told to accept it (--allow-registry-rollback).
// Through a real HTTP server on loopback serving files with ETags, as repo.hex.pm does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { gunzip } from "../src/hex/gzip.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { decodePackage, decodeSigned, encodePackage } from "../src/hex/registry/proto.ts";
import type { Package } from "../src/hex/registry/records.ts";
import { signResource } from "../src/hex/registry/signed.ts";
import { beamix } from "./support/cli.ts";
import { startStaticServer } from "./support/static-server.ts";

const VEC = "test/vectors/hex/registry";
const PUBLIC = join(VEC, "public");
const PRIVATE_KEY = readFileSync(join(VEC, "private_key.pem"), "utf8");
const PUBLIC_KEY = readFileSync(join(PUBLIC, "public_key"), "utf8");
const CORE: Package = decodePackage(decodeSigned(gunzip(readFileSync(join(PUBLIC, "packages/vec_core")), 1 << 20)).payload);

// vec_core as first published (0.3.0 only), and later: 0.3.0 retired for security, 0.4.0 added.
const older = (): Package => structuredClone(CORE);
const newer = (): Package => {
  const p = structuredClone(CORE);
  p.releases[0].retired = { reason: "security", message: "CVE-0000-0001" };
  p.releases.push({ ...structuredClone(CORE.releases[0]), version: "0.4.0" });
  return p;
};
// Releases are Buffers inside: structuredClone keeps them as Uint8Arrays, which the encoder takes.
const signed = (p: Package) => signResource(encodePackage(p), PRIVATE_KEY);

async function setUp(t: { after(fn: () => unknown): void }) {
  const work = await mkdtemp(join(tmpdir(), "beamix-rollback-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const root = join(work, "repo");
  await cp(PUBLIC, root, { recursive: true });
  const server = await startStaticServer({ root });
  t.after(() => server.close());
  const publish = (p: Package) => writeFile(join(root, "packages/vec_core"), signed(p));
  return { work, server, publish, cacheDir: join(work, "cache") };
}

test("a replayed older record that drops a release and a retirement is refused; the verified copy stays", async (t) => {
  const { server, publish, cacheDir } = await setUp(t);
  const repo = (allowRollback = false) => new HexRepo({ name: "vectors", url: server.url, publicKeyPem: PUBLIC_KEY, cacheDir, timeoutMs: 5000, allowRollback });

  await publish(newer());
  const held = await repo().package("vec_core");
  assert.deepEqual(held.releases.map((r) => [r.version, r.retired?.reason]), [["0.3.0", "security"], ["0.4.0", undefined]]);

  await publish(older()); // the replay: signed by the repository's key, but older
  await assert.rejects(repo().package("vec_core"), (err: Error) => {
    assert.ok(err instanceof BeamixError);
    assert.equal(
      err.message,
      `registry vectors: ${server.url}/packages/vec_core is older than the record verified before: it drops release 0.4.0 and un-retires 0.3.0 (retired: security) (a replayed record? --allow-registry-rollback accepts it)`,
    );
    return true;
  });

  // Only a retirement lost is refused too.
  const unretired = newer();
  delete unretired.releases[0].retired;
  await publish(unretired);
  await assert.rejects(repo().package("vec_core"), /: it un-retires 0\.3\.0 \(retired: security\) \(a replayed record\?/);

  // The newer record is still what the cache holds: served again, it is accepted as it was.
  await publish(newer());
  server.statuses.length = 0;
  assert.deepEqual(await repo().package("vec_core"), held);
  assert.deepEqual(server.statuses, [304], "revalidated against the copy kept");

  // A record that only adds (a new release, a new retirement) is no rollback.
  const later = newer();
  later.releases[1].retired = { reason: "deprecated" };
  await publish(later);
  assert.equal((await repo().package("vec_core")).releases[1].retired?.reason, "deprecated");

  // Told to, the client accepts the older record (and holds it from then on).
  await publish(older());
  assert.deepEqual((await repo(true).package("vec_core")).releases.map((r) => r.version), ["0.3.0"]);
  assert.equal((await repo().package("vec_core")).releases[0].retired, undefined);
});

test("beamix hex info refuses a rollback in one line; --allow-registry-rollback accepts it", async (t) => {
  const { work, server, publish } = await setUp(t);
  const env = { BEAMIX_CACHE_DIR: join(work, "cli-cache"), BEAMIX_CONFIG_DIR: join(work, "cli-config"), HEX_MIRROR: "", HEX_MIRROR_URL: "" };
  const keyFile = join(PUBLIC, "public_key");
  const info = (...extra: string[]) => beamix(["hex", "info", "vec_core", "--repo", server.url, "--repo-name", "vectors", "--public-key", keyFile, ...extra], { env });

  await publish(newer());
  const first = await info();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /0\.3\.0\s+retired: security/);

  await publish(older());
  const refused = await info();
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, "");
  assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  assert.match(refused.stderr, /packages\/vec_core is older than the record verified before: it drops release 0\.4\.0 and un-retires 0\.3\.0/);

  const accepted = await info("--allow-registry-rollback");
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.doesNotMatch(accepted.stdout, /retired/);
});
