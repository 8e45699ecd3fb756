// A store the user cannot write (a read-only mount, another user's store) still answers queries:
// a no-op build, path and verify work; whatever must write fails with one line (issue 12).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, runCommand, type CliResult } from "./support/cli.ts";

const packages = fileURLToPath(new URL("fixtures/packages/", import.meta.url));
const mainJs = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const built = join(packages, "beacon-1.1.0");
const notBuilt = join(packages, "beacon-1.2.0");
const isRoot = process.getuid?.() === 0;

let work: string;
let store: string;
let itemPath: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-read-only-"));
  await chmod(work, 0o755); // another user reads the store below
  store = join(work, "store");
  const r = await beamix(["build", built, "--store", store], { env: env(), timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  itemPath = r.stdout.trim();
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function env(home = join(work, "home")): Record<string, string> {
  return { HOME: home, BEAMIX_CACHE_DIR: join(home, "cache"), BEAMIX_DATA_DIR: join(home, "data"), BEAMIX_CONFIG_DIR: join(home, "config"), BEAMIX_STORE: "", HEX_MIRROR: "", HEX_MIRROR_URL: "" };
}

type Run = (args: string[]) => Promise<CliResult>;

// The queries work and say nothing about the store being read-only; writes fail with one line.
async function checkReadOnly(run: Run, dir: string): Promise<void> {
  const noop = await run(["build", built, "--store", dir]);
  assert.equal(noop.code, 0, noop.stderr);
  assert.equal(noop.stdout, `${join(dir, itemPath.slice(store.length + 1))}\n`);
  assert.match(noop.stderr, /0 built, 1 already present, 0 failed/);
  assert.doesNotMatch(noop.stderr, /read-only/);

  const path = await run(["path", built, "--store", dir]);
  assert.equal(path.code, 0, path.stderr);
  assert.equal(path.stdout, noop.stdout);
  assert.equal(path.stderr, "");

  const verify = await run(["verify", "--store", dir]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /1 items checked, 1 ok, 0 with problems/);

  const dry = await run(["gc", "--dry-run", "--store", dir]);
  assert.equal(dry.code, 0, dry.stderr);

  const build = await run(["build", notBuilt, "--store", dir]);
  assert.equal(build.code, 1, build.stderr);
  assert.match(build.stderr, /failed: cannot build or fetch items: the store .* is read-only\n/);
  assert.doesNotMatch(build.stderr, /\n\s+at |Node\.js v/);

  for (const args of [["gc"], ["verify", "--repair"]]) {
    const r = await run([...args, "--store", dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^beamix: cannot [^\n]*: the store .* is read-only\n$/);
  }
}

test("a store on a read-only mount", async (t) => {
  if (!isRoot) return t.skip("mounting needs root");
  const mnt = join(work, "mnt");
  await mkdir(mnt);
  const bind = spawnSync("mount", ["--bind", store, mnt], { encoding: "utf8" });
  if (bind.status !== 0) return t.skip(`mount --bind is not permitted here: ${bind.stderr.trim()}`);
  t.after(() => void spawnSync("umount", [mnt]));
  const ro = spawnSync("mount", ["-o", "remount,ro,bind", mnt], { encoding: "utf8" });
  if (ro.status !== 0) return t.skip(`remounting read-only is not permitted here: ${ro.stderr.trim()}`);
  await checkReadOnly((args) => beamix(args, { env: env(), timeoutMs: 300_000 }), mnt);
  assert.deepEqual((await readdir(join(store, ".beamix", "roots"))).filter((r) => r.startsWith("temp-")), []);
});

test("another user's store", async (t) => {
  if (!isRoot) return t.skip("switching users needs root");
  if (spawnSync("setpriv", ["--version"]).status !== 0) return t.skip("setpriv is not installed");
  const home = join(work, "nobody");
  await mkdir(home);
  await chown(home, 65534, 65534);
  const asNobody: Run = (args) =>
    runCommand("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--no-warnings=ExperimentalWarning", mainJs, ...args], {
      env: { ...process.env, ...env(home) },
      timeoutMs: 300_000,
    });
  await checkReadOnly(asNobody, store);
});
