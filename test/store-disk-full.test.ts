// A full disk under the store, at whatever point of a build or a registration it strikes, is one
// line and a non-zero exit, and leaves no partial item (issue 12). The store lives on a 2 MiB
// tmpfs, filled to leave a little less room each time than the build needs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix } from "./support/cli.ts";

const beacon = fileURLToPath(new URL("fixtures/packages/beacon-1.1.0", import.meta.url));

test("a full disk during a build or a registration is one line, and leaves no partial item", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("mounting a tmpfs needs root");
  const work = await mkdtemp(join(tmpdir(), "beamix-disk-full-"));
  const disk = join(work, "disk");
  await mkdir(disk);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk], { encoding: "utf8" });
  t.after(async () => {
    if (mounted.status === 0) spawnSync("umount", [disk]);
    await rm(work, { recursive: true, force: true });
  });
  if (mounted.status !== 0) return t.skip(`mounting a tmpfs is not permitted here: ${mounted.stderr.trim()}`);

  // beacon with 700 kB of data in priv/: its item takes about a third of the disk.
  const pkg = join(work, "big-beacon");
  await cp(beacon, pkg, { recursive: true });
  await mkdir(join(pkg, "priv"));
  await writeFile(join(pkg, "priv", "data.bin"), randomBytes(700_000));

  const store = join(disk, "store");
  const filler = join(disk, "filler");
  const env = { BEAMIX_CACHE_DIR: join(work, "cache"), BEAMIX_DATA_DIR: join(work, "data"), BEAMIX_CONFIG_DIR: join(work, "config"), BEAMIX_STORE: "" };
  const run = (args: string[]) => beamix(args, { env, timeoutMs: 300_000 });
  const created = await run(["verify", "--store", store]);
  assert.equal(created.code, 0, created.stderr);

  const failures: string[] = [];
  for (const leaveKiB of [0, 40, 100, 700, 780]) {
    const s = await statfs(disk);
    const fill = s.bavail * s.bsize - leaveKiB * 1024;
    if (fill > 0) await writeFile(filler, Buffer.alloc(fill)).catch((err) => assert.equal(err.code, "ENOSPC"));
    const r = await run(["build", pkg, "--store", store]);
    if (r.code !== 0) {
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at |Node\.js v|Error:/, r.stderr);
      assert.match(r.stderr, /no space left on device|database or disk is full|the disk is full/, r.stderr);
      failures.push(r.stderr);
    }
    // With room again: no partial item, nothing left in the store's temporaries, a clean verify.
    await rm(filler, { force: true });
    const v = await run(["verify", "--store", store, "--json"]);
    assert.equal(v.code, 0, v.stderr);
    const report = JSON.parse(v.stdout) as { problems: unknown[]; checked: number };
    assert.deepEqual(report.problems, []);
    assert.deepEqual(await readdir(join(store, ".beamix", "tmp")), []);
    assert.equal((await readdir(store)).filter((e) => e !== ".beamix").length, report.checked);
    const gc = await run(["gc", "--store", store]);
    assert.equal(gc.code, 0, gc.stderr);
  }
  // The disk filled up at the start (opening the database) and in the middle of a build.
  assert.ok(failures.some((e) => /^beamix: store database .*: disk I\/O error \(the disk is full\)\n$/.test(e)), failures.join("\n---\n"));
  assert.ok(failures.some((e) => /\nfailed: /.test(e)), failures.join("\n---\n"));

  const ok = await run(["build", pkg, "--store", store]);
  assert.equal(ok.code, 0, ok.stderr);
});
