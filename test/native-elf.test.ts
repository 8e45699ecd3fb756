// The ELF reader (src/native/elf.ts), the loader's search (loader.ts) and a tree's native facts
// (native-facts.ts), on shared objects built here with the host's C compiler and checked
// against binutils' readelf; malformed files fail with an ElfError, never a crash.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ElfError, readElf } from "../src/native/elf.ts";
import { findLibrary, hostElf, hostGlibc, parseLdSoCache } from "../src/native/loader.ts";
import { loadProblems, nativeFactsOfTree, treeLoadProblems } from "../src/native/native-facts.ts";
import { systemInputsOfSources } from "../src/native/detect.ts";

const run = promisify(execFile);
let work: string;

async function cc(out: string, source: string, args: string[] = []): Promise<string> {
  const src = `${out}.c`;
  await writeFile(src, source);
  await run("cc", ["-shared", "-fPIC", "-o", out, src, ...args]);
  return out;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-native-elf-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function readelf(path: string): Promise<{ needed: string[]; runpath: string[]; soname?: string; glibc?: string }> {
  const d = (await run("readelf", ["-dW", path])).stdout;
  const v = (await run("readelf", ["-VW", path])).stdout;
  const all = (re: RegExp) => [...d.matchAll(re)].map((m) => m[1]);
  const versions = [...v.matchAll(/Name: GLIBC_([0-9.]+)/g)].map((m) => m[1]).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  return { needed: all(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g), runpath: all(/\(RUNPATH\)\s+Library runpath: \[([^\]]+)\]/g).flatMap((s) => s.split(":")), soname: all(/\(SONAME\)\s+Library soname: \[([^\]]+)\]/g)[0], glibc: versions.at(-1) };
}

test("NEEDED, RUNPATH, SONAME and the glibc version agree with readelf, for ours and the host's libraries", async () => {
  const lib = await cc(join(work, "libdemo.so"), '#include <math.h>\n#include <yaml.h>\ndouble f(double x){return exp(x);}\nconst char *g(void){return yaml_get_version_string();}\n', [
    "-lm",
    "-lyaml",
    "-Wl,--no-as-needed",
    "-Wl,-soname,libdemo.so.1",
    "-Wl,-rpath,$ORIGIN/../lib:/opt/x",
    "-Wl,--enable-new-dtags",
  ]);
  for (const path of [lib, "/usr/lib/x86_64-linux-gnu/libyaml-0.so.2", "/bin/ls"]) {
    const facts = readElf(await readFile(path));
    const expected = await readelf(path);
    assert.deepEqual(facts.needed, expected.needed, path);
    assert.deepEqual(facts.runpath, expected.runpath, path);
    assert.equal(facts.soname, expected.soname, path);
    assert.equal(facts.glibc, expected.glibc, path);
    assert.equal(facts.bits, 64);
  }
  const facts = readElf(await readFile(lib));
  assert.ok(facts.needed.includes("libyaml-0.so.2") && facts.needed.includes("libm.so.6"));
  assert.deepEqual(facts.runpath, ["$ORIGIN/../lib", "/opt/x"]);
});

test("a statically linked object needs nothing; truncated and corrupt files are ElfErrors", async () => {
  const src = join(work, "static.c");
  await writeFile(src, "int main(void){return 0;}\n");
  await run("cc", ["-static", "-o", join(work, "static"), src]);
  const statically = readElf(await readFile(join(work, "static")));
  assert.deepEqual([statically.needed, statically.glibc], [[], undefined]);

  const good = await readFile(await cc(join(work, "libcut.so"), "int f(void){return 1;}\n"));
  assert.throws(() => readElf(Buffer.from("not an elf file at all")), ElfError);
  for (const n of [16, 52, 64, 200, 1000, good.length >> 1]) assert.throws(() => readElf(good.subarray(0, n)), ElfError, `cut at ${n}`);
  // Program headers pointing past the end, and a dynamic segment whose string table is nowhere.
  const badPh = Buffer.from(good);
  badPh.writeBigUInt64LE(BigInt(good.length + 4096), 32);
  assert.throws(() => readElf(badPh), ElfError);
  const flipped = Buffer.from(good);
  for (let i = 64; i < Math.min(flipped.length, 4096); i += 7) flipped[i] ^= 0xff;
  try {
    readElf(flipped);
  } catch (err) {
    assert.ok(err instanceof ElfError, String(err));
  }
});

test("the loader's search: ld.so.cache, default directories, $ORIGIN; the host's glibc", async () => {
  const cache = parseLdSoCache(await readFile("/etc/ld.so.cache"));
  const ldconfig = (await run("/usr/sbin/ldconfig", ["-p"])).stdout;
  for (const name of ["libc.so.6", "libyaml-0.so.2"]) {
    assert.ok(cache.has(name), name);
    assert.match(ldconfig, new RegExp(`\\t${name.replace(/\./g, "\\.")} .*=> ${cache.get(name)![0].replace(/\./g, "\\.")}`));
  }
  assert.ok(await findLibrary("libyaml-0.so.2", hostElf(), "/"));
  assert.equal(await findLibrary("libbeamix-no-such.so.1", hostElf(), "/"), undefined);
  assert.match(hostGlibc() ?? "", /^2\.\d+$/);

  const dir = join(work, "origin");
  await mkdir(join(dir, "priv", "lib"), { recursive: true });
  await cc(join(dir, "priv", "lib", "libhelper.so"), "int helper(void){return 2;}\n", ["-Wl,-soname,libhelper.so"]);
  const nif = await cc(join(dir, "priv", "nif.so"), "int helper(void);\nint f(void){return helper();}\n", ["-L", join(dir, "priv", "lib"), "-Wl,--no-as-needed", "-lhelper", "-Wl,-rpath,$ORIGIN/lib"]);
  assert.equal(await findLibrary("libhelper.so", readElf(await readFile(nif)), nif), join(dir, "priv", "lib", "libhelper.so"));
  const facts = await nativeFactsOfTree(dir);
  assert.deepEqual(facts?.objects, ["priv/lib/libhelper.so", "priv/nif.so"]);
  assert.deepEqual(facts?.needed, ["libc.so.6"], "a library found through $ORIGIN travels with the tree");
  assert.deepEqual(await treeLoadProblems(dir), []);
  await rm(join(dir, "priv", "lib", "libhelper.so"));
  assert.deepEqual(await treeLoadProblems(dir), ["priv/nif.so needs libhelper.so, which this host's dynamic loader does not find"]);
  await mkdir(join(work, "plain", "ebin"), { recursive: true });
  await writeFile(join(work, "plain", "ebin", "x.beam"), "FOR1");
  assert.equal(await nativeFactsOfTree(join(work, "plain")), undefined, "a tree without ELF files has no native facts");
});

test("loadProblems: a missing library and a newer glibc than the host's are each one reason", async () => {
  assert.deepEqual(await loadProblems(["libc.so.6", "libyaml-0.so.2"], "2.14"), []);
  const host = hostGlibc()!;
  assert.deepEqual(await loadProblems(["libc.so.6", "libbeamix-gone.so.1"], "9.99"), [
    `its native code needs glibc 9.99, this host has ${host}`,
    "its native code needs libbeamix-gone.so.1, which this host's dynamic loader does not find",
  ]);
});

test("automatic system inputs: known headers included by C sources, not the package's own or unknown ones", () => {
  const src = (path: string, text: string) => ({ path, data: Buffer.from(text) });
  assert.deepEqual(
    systemInputsOfSources([
      src("c_src/a.c", '#include <erl_nif.h>\n#include <stdio.h>\n#  include <yaml.h>\n#include "zlib.h"\n'),
      src("c_src/b.h", "#include <openssl/evp.h>\n#include <unknown_lib.h>\n"),
      src("lib/x.ex", "#include <expat.h>\n"),
    ]),
    [
      { header: "yaml.h", library: "yaml", debian: "libyaml-dev" },
      { header: "zlib.h", library: "z", debian: "zlib1g-dev" },
      { header: "openssl/evp.h", library: "crypto", debian: "libssl-dev" },
    ],
  );
  // A quoted include of a header the package ships is its own.
  assert.deepEqual(systemInputsOfSources([src("c_src/a.c", '#include "zlib.h"\n'), src("c_src/zlib.h", "")]), []);
});
