// A trusted cache whose archive of an item is a single file instead of a directory (signed by a
// trusted key: a broken or compromised publisher) is a bad substitute like any other: it is said
// in one line, and the next cache, or a local build, takes over (issue 12).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { cp, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { packTree } from "../src/substitute/format/archive.ts";
import { readSecretKeyFile } from "../src/signing/keys.ts";
import { archiveKey, recordKey } from "../src/substitute/format/layout.ts";
import { formatRecord, parseRecord, signRecord } from "../src/substitute/format/record.ts";
import { beamix } from "./support/cli.ts";

const beacon = fileURLToPath(new URL("fixtures/packages/beacon-1.1.0", import.meta.url));

let work: string;
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CONFIG_DIR: join(work, "config"), BEAMIX_STORE: "" });
const good = () => join(work, "good-cache");
const bad = () => join(work, "bad-cache");
const url = (dir: string) => pathToFileURL(dir).href;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-top-level-file-"));
  const built = await beamix(["build", beacon, "--store", join(work, "origin")], { env: env(), timeoutMs: 300_000 });
  assert.equal(built.code, 0, built.stderr);
  const drvHash = basename(built.stdout.trim()).split("-")[0];
  assert.equal((await beamix(["key", "generate", "ci", "-o", join(work, "keys")], { env: env() })).code, 0);
  const secret = join(work, "keys", "ci.secret");
  const pub = await beamix(["publish", beacon, "--store", join(work, "origin"), "--to", url(good()), "--sign-with", secret], { env: env(), timeoutMs: 300_000 });
  assert.equal(pub.code, 0, pub.stderr);

  // The bad cache: the same, but beacon's archive is one regular file, its record signed anew.
  await cp(good(), bad(), { recursive: true });
  await writeFile(join(work, "a-file"), "a store item is a directory\n");
  const packed = join(work, "packed.nar.zst");
  const info = await packTree(join(work, "a-file"), createWriteStream(packed), "zstd");
  const key = archiveKey(info.fileHash, "zstd");
  await rename(packed, join(bad(), key));
  const record = parseRecord(await readFile(join(bad(), recordKey(drvHash)), "utf8"), "record");
  const forged = signRecord({ ...record, url: key, fileHash: info.fileHash, fileSize: info.fileSize, narHash: info.narHash, narSize: info.narSize, signatures: [] }, await readSecretKeyFile(secret));
  await writeFile(join(bad(), recordKey(drvHash)), formatRecord(forged));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const trust = () => ["--trusted-key", join(work, "keys", "ci.public")];

test("the next cache takes over from one whose trusted archive is a file", async () => {
  const r = await beamix(["build", beacon, "--store", join(work, "a"), "--substituters", url(bad()), "--substituters", url(good()), ...trust()], { env: env(), timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot substitute beacon 1\\.1\\.0 from ${url(bad())}: the archive's top level is not a directory\\n`));
  assert.match(r.stderr, /0 built, 1 substituted, 0 already present, 0 failed/);
  const v = await beamix(["verify", "--store", join(work, "a")], { env: env() });
  assert.equal(v.code, 0, v.stdout);
});

test("a local build takes over when no other cache has it", async () => {
  const r = await beamix(["build", beacon, "--store", join(work, "b"), "--substituters", url(bad()), ...trust()], { env: env(), timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /the archive's top level is not a directory\n/);
  assert.match(r.stderr, /1 built, 0 substituted, 0 already present, 0 failed/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
