// Where the store or beamix's directories cannot be what they must be, the user gets one line
// naming what is wrong and a non-zero exit, not a stack trace (issue 12).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeRegistry, fixturePackagesDir, type FixtureRegistry } from "./support/fixture-registry.ts";

let work: string;
let registry: FixtureRegistry;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-store-errors-"));
  registry = await makeRegistry(join(work, "repo"), [join(fixturePackagesDir, "beacon-1.1.0")]);
  await writeFile(join(work, "a-file"), "not a directory\n");
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  BEAMIX_CACHE_DIR: join(work, "cache"),
  BEAMIX_DATA_DIR: join(work, "data"),
  BEAMIX_CONFIG_DIR: join(work, "config"),
  BEAMIX_STORE: "",
  HEX_MIRROR: "",
  HEX_MIRROR_URL: "",
  ...extra,
});

function assertOneLine(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /^beamix: [^\n]*\n$/, r.stderr);
  assert.match(r.stderr, pattern);
}

test("a store path that is a file, or lies under one", async () => {
  const file = join(work, "a-file");
  for (const args of [["verify"], ["gc", "--dry-run"]]) {
    assertOneLine(await beamix([...args, "--store", file], { env: env() }), /a-file: not a directory, so not a store/);
    assertOneLine(await beamix([...args, "--store", join(file, "store")], { env: env() }), /a-file\/store: cannot make a store there: .*a-file is a file/);
  }
});

test("BEAMIX_DATA_DIR or BEAMIX_CACHE_DIR is a file", async () => {
  const file = join(work, "a-file");
  assertOneLine(await beamix(["verify"], { env: env({ BEAMIX_DATA_DIR: file }) }), /BEAMIX_DATA_DIR \(.*a-file\) is not a directory/);
  assertOneLine(await beamix(["gc"], { env: env({ BEAMIX_DATA_DIR: join(file, "beamix") }) }), /BEAMIX_DATA_DIR \(.*a-file\/beamix\) is not a directory: .*a-file is a file/);
  const repo = ["--repo", pathToFileURL(registry.dir).href, "--public-key", registry.publicKeyPath];
  for (const cache of [file, join(file, "cache")]) {
    assertOneLine(await beamix(["path", "beacon", "--store", join(work, "store"), ...repo], { env: env({ BEAMIX_CACHE_DIR: cache }) }), /BEAMIX_CACHE_DIR \(.*\) is not a directory/);
  }
  // With a directory there, the same command runs (the package is not built: exit 1, said so).
  const ok = await beamix(["path", "beacon", "--store", join(work, "store"), ...repo], { env: env() });
  assertOneLine(ok, /not in the store yet: beacon 1\.1\.0/);
});

test("a store database that is not one", async () => {
  for (const marked of [false, true]) {
    const store = join(work, `garbage-${marked}`);
    await mkdir(join(store, ".beamix"), { recursive: true });
    await writeFile(join(store, ".beamix", "db.sqlite"), randomBytes(8192));
    if (marked) await writeFile(join(store, ".beamix", "store"), "beamix store 1\n");
    for (const args of [["verify"], ["gc"]]) {
      assertOneLine(await beamix([...args, "--store", store], { env: env() }), /store database .*db\.sqlite: the file is not a beamix store database/);
    }
    assert.ok((await readdir(join(store, ".beamix"))).includes("db.sqlite"));
  }
});
