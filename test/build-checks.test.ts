// The builder's host-side pieces: the compile-time config files (read back by Elixir's own
// Config.Reader), BEAM chunk expansion for the host-path check, .app validation, and the two
// tree copies (source in, outputs out).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beamChunks, searchableParts } from "../src/builder/beam-chunks.ts";
import { CONFIG_EXS_TEXT, CONFIG_TERMS_FILE, compileConfigTermsText } from "../src/builder/compile-config.ts";
import { collectOutputTree, copySourceTree } from "../src/builder/tree-copy.ts";
import { findEmbeddedPaths, parseAppFile, toolchainApps, validateInstalledApp } from "../src/builder/validate.ts";
import type { CompileConfig } from "../src/derivation/config.ts";
import { binaryToTerm } from "../src/erlang/etf.ts";
import { termsEqual } from "../src/erlang/order.ts";
import { atom, bin, int, list, listView, str, tuple, unwrap, type Term } from "../src/erlang/term.ts";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";
import { genTerm, rng } from "./support/erlang-gen.ts";

let tmp: string;
let tc: Toolchain;
before(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-build-checks-")));
  tc = await detectToolchain({ cacheDir: join(tmp, "cache") });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const fresh = (name: string): string => {
  const d = join(tmp, `${name}-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

test("the config files read back through Elixir's Config.Reader as the same terms", () => {
  const r = rng(20240601);
  const config: CompileConfig = {
    mimetable: { types: genTerm(r), extensions: genTerm(r) },
    "with space": { "odd key": genTerm(r) },
    plain: {},
  };
  for (let i = 0; i < 12; i++) (config[`app_${i}`] ??= {})[`key_${i % 3}`] = genTerm(r);
  config.exact = { charlist: str("abc"), bytes: bin(Buffer.from([0, 255, 128])), big: int(2n ** 200n), kw: list([tuple([atom("a"), int(1)])]) };

  const dir = fresh("config");
  writeFileSync(join(dir, "config.exs"), CONFIG_EXS_TEXT);
  writeFileSync(join(dir, CONFIG_TERMS_FILE), compileConfigTermsText(config));
  const outFile = join(dir, "read.etf");
  execFileSync(tc.paths.elixir!, ["-e", `File.write!(${JSON.stringify(outFile)}, :erlang.term_to_binary(Config.Reader.read!(${JSON.stringify(join(dir, "config.exs"))})))`], {
    env: { PATH: [...tc.binDirs, "/usr/bin", "/bin"].join(":"), HOME: dir, LANG: "C.UTF-8" },
  });
  const read = listView(binaryToTerm(readFileSync(outFile)))!.items.map(unwrap);
  const byApp = new Map<string, Term>();
  for (const t of read) {
    assert.ok(t.type === "tuple" && t.items[0].type === "atom");
    byApp.set(t.items[0].value, t.items[1]);
  }
  assert.deepEqual([...byApp.keys()].sort(), Object.keys(config).sort());
  for (const [app, entries] of Object.entries(config)) {
    const pairs = listView(byApp.get(app)!)!.items.map(unwrap);
    assert.equal(pairs.length, Object.keys(entries).length, app);
    for (const p of pairs) {
      assert.ok(p.type === "tuple" && p.items[0].type === "atom");
      const key = p.items[0].value;
      assert.ok(termsEqual(p.items[1], entries[key]), `${app}.${key} reads back unchanged`);
    }
  }
  // Equal configs give equal files, whatever the order they were given in.
  const reversed: CompileConfig = Object.fromEntries(Object.entries(config).reverse().map(([a, e]) => [a, Object.fromEntries(Object.entries(e).reverse())]));
  assert.equal(compileConfigTermsText(reversed), compileConfigTermsText(config));
});

test("BEAM chunks: the literal table and compressed debug info are expanded for the path search", async () => {
  const dir = fresh("beam");
  const marker = `${dir}/a/very/specific/path.txt`;
  writeFileSync(join(dir, "lit.erl"), `-module(lit).\n-export([p/0]).\np() -> {"${marker}", <<"${marker}">>}.\n`);
  execFileSync(tc.paths.erlc, ["+debug_info", "-o", dir, join(dir, "lit.erl")], { env: { PATH: "/usr/bin:/bin" } });
  const beam = readFileSync(join(dir, "lit.beam"));
  assert.ok(!beam.includes(marker), "the raw file does not show the literal (it is compressed)");
  const chunks = beamChunks(beam)!;
  assert.ok(chunks.some((c) => c.id === "LitT") && chunks.some((c) => c.id === "Dbgi"));
  const parts = searchableParts(beam);
  assert.ok(parts.some((p) => p.includes(marker)), "the expanded chunks show it");
  // Without deterministic, erlc records the absolute source path in the debug info.
  assert.ok(parts.some((p) => p.includes(join(dir, "lit.erl"))));
  // A gzip-compressed BEAM file is read too; anything else is searched as it is.
  assert.ok(searchableParts(gzipSync(beam)).some((p) => p.includes(marker)));
  assert.equal(beamChunks(Buffer.from("not a beam")), null);
  assert.deepEqual(searchableParts(Buffer.from(`x ${marker} y`)), [Buffer.from(`x ${marker} y`)]);

  writeFileSync(join(dir, "notes.txt"), "nothing here");
  const hits = await findEmbeddedPaths(dir, [dir, "/nowhere/at/all"]);
  assert.ok(hits.some((x) => x.file === "lit.beam" && x.path === dir));
  assert.ok(!hits.some((x) => x.file === "notes.txt" || x.path === "/nowhere/at/all"));
});

function writeApp(lib: string, text: string, beams: string[]): void {
  mkdirSync(join(lib, "ebin"), { recursive: true });
  writeFileSync(join(lib, "ebin", "demo.app"), text);
  for (const b of beams) writeFileSync(join(lib, "ebin", `${b}.beam`), "");
}

test("parseAppFile reads what validation needs; validation names each problem", async () => {
  const text = `{application,demo,[{vsn,"1.0.0"},{modules,[demo,demo_sup]},{applications,[kernel,stdlib,logger,crypto,alpha,ghost,maybe]},{optional_applications,[maybe]},{included_applications,[phantom]}]}.\n`;
  const app = parseAppFile(text, "demo.app");
  assert.deepEqual(app, {
    app: "demo",
    vsn: "1.0.0",
    modules: ["demo", "demo_sup"],
    applications: ["kernel", "stdlib", "logger", "crypto", "alpha", "ghost", "maybe"],
    includedApplications: ["phantom"],
    optionalApplications: ["maybe"],
  });
  assert.throws(() => parseAppFile("{app, demo, []}.", "x.app"), /x\.app: not an application resource file/);
  assert.throws(() => parseAppFile(`{application, demo, [{applications, [kernel, "x"]}]}.`, "x.app"), /applications is not a list of atoms/);

  const apps = await toolchainApps(tc);
  for (const a of ["kernel", "stdlib", "crypto", "elixir", "logger"]) assert.ok(apps.has(a), `the toolchain provides ${a}`);

  const lib = fresh("lib");
  writeApp(lib, text, ["demo"]);
  const problems = await validateInstalledApp({ libDir: lib, app: "demo", version: "1.0.0", inputApps: ["alpha"], toolchain: tc });
  assert.deepEqual(problems, [
    "ebin/demo.app lists modules with no .beam: demo_sup",
    "ebin/demo.app needs applications that are neither in the toolchain nor among the inputs: ghost, phantom",
  ]);
  writeFileSync(join(lib, "ebin", "demo_sup.beam"), "");
  assert.deepEqual(await validateInstalledApp({ libDir: lib, app: "demo", version: "1.0.0", inputApps: ["alpha", "ghost", "phantom"], toolchain: tc }), []);
  assert.deepEqual(await validateInstalledApp({ libDir: lib, app: "demo", version: "2.0.0", inputApps: ["alpha", "ghost", "phantom"], toolchain: tc }), [
    `ebin/demo.app has vsn "1.0.0", expected "2.0.0"`,
  ]);
  const other = fresh("lib");
  writeApp(other, `{application,other,[{vsn,"1.0.0"},{applications,[kernel]}]}.\n`, []);
  assert.deepEqual(await validateInstalledApp({ libDir: other, app: "demo", version: "1.0.0", inputApps: [], toolchain: tc }), ["ebin/demo.app names application other, expected demo"]);
  assert.deepEqual(await validateInstalledApp({ libDir: fresh("empty"), app: "demo", version: "1.0.0", inputApps: [], toolchain: tc }), ["no ebin/demo.app was installed"]);
});

test("copySourceTree keeps symlinks and timestamps, and makes a read-only source writable", async () => {
  const src = fresh("src");
  mkdirSync(join(src, "lib"));
  writeFileSync(join(src, "lib", "a.ex"), "defmodule A, do: nil\n");
  writeFileSync(join(src, "run.sh"), "#!/bin/sh\n");
  chmodSync(join(src, "run.sh"), 0o555);
  chmodSync(join(src, "lib", "a.ex"), 0o444);
  symlinkSync("/etc/passwd", join(src, "outside"));
  utimesSync(join(src, "lib", "a.ex"), 946684800, 946684800);
  chmodSync(join(src, "lib"), 0o555);
  const to = join(fresh("copy"), "source");
  try {
    await copySourceTree(src, to);
  } finally {
    chmodSync(join(src, "lib"), 0o755);
  }
  assert.equal(readlinkSync(join(to, "outside")), "/etc/passwd");
  assert.ok(lstatSync(join(to, "outside")).isSymbolicLink());
  assert.equal(statSync(join(to, "lib", "a.ex")).mtimeMs, 946684800000);
  assert.equal(statSync(join(to, "lib", "a.ex")).mode & 0o777, 0o644);
  assert.equal(statSync(join(to, "run.sh")).mode & 0o777, 0o755);
  assert.equal(statSync(join(to, "lib")).mode & 0o777, 0o755);
  await assert.rejects(copySourceTree(join(src, "run.sh"), join(tmp, "nope")), /is not a directory/);
});

test("collectOutputTree copies plain files with normal modes and refuses links and special files", async () => {
  const from = fresh("out");
  mkdirSync(join(from, "ebin"));
  mkdirSync(join(from, "priv", "bin"), { recursive: true });
  writeFileSync(join(from, "ebin", "demo.app"), "x");
  writeFileSync(join(from, "priv", "bin", "tool"), "#!/bin/sh\n");
  chmodSync(join(from, "priv", "bin", "tool"), 0o700);
  chmodSync(join(from, "ebin", "demo.app"), 0o600);
  chmodSync(join(from, "priv"), 0o700);
  const to = fresh("staged");
  assert.deepEqual(await collectOutputTree(from, to), { files: 2, bytes: 11 });
  assert.equal(statSync(join(to, "ebin", "demo.app")).mode & 0o7777, 0o644);
  assert.equal(statSync(join(to, "priv", "bin", "tool")).mode & 0o7777, 0o755);
  assert.equal(statSync(join(to, "priv")).mode & 0o7777, 0o755);

  // A build could leave a link to a host file for the host to copy: refused, never followed.
  const secret = join(fresh("host"), "secret");
  writeFileSync(secret, "host secret");
  symlinkSync(secret, join(from, "priv", "leak"));
  const to2 = fresh("staged");
  await assert.rejects(collectOutputTree(from, to2), /installed output priv\/leak is a symbolic link/);
  assert.ok(!existsSync(join(to2, "priv", "leak")));
  rmSync(join(from, "priv", "leak"));
  execFileSync("mkfifo", [join(from, "ebin", "pipe")]);
  await assert.rejects(collectOutputTree(from, fresh("staged")), /installed output ebin\/pipe is neither a file nor a directory/);
  await assert.rejects(collectOutputTree(join(from, "nothing"), fresh("staged")), /the install phase left no directory/);
});
