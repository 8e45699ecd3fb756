import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, gzipSync } from "node:zlib";
import { BeamixError } from "../src/errors.ts";
import { beamModuleName, chunkClass, parseBeam, readBeam, writeBeam, type BeamChunk } from "../src/erlang/beam.ts";
import { compareTrees, formatComparison, type Comparison } from "../src/builder/compare.ts";
import { binaryToTerm, termToBinary } from "../src/erlang/etf.ts";
import { atom, int, map, type Term } from "../src/erlang/term.ts";

const ALPHA = "-module(alpha).\n-export([f/1]).\nf(X) -> #{value => X + 1}.\n";
// Same code; the extra type declaration only reaches the abstract code in Dbgi.
const ALPHA_WITH_TYPE = ALPHA + "-type unused() :: integer().\n";
const ALPHA_CHANGED = "-module(alpha).\n-export([f/1]).\nf(X) -> #{value => X + 2}.\n";
const BETA = "-module(beta).\n-export([g/0]).\ng() -> alpha:f(41).\n";
const GAMMA = 'defmodule Gamma do\n  @moduledoc "Doubles."\n  def double(x), do: x * 2\nend\n';

let root: string;
let base: string; // first build
let again: string; // second build of the same sources at the same path

const run = (cmd: string, args: string[]): void => {
  execFileSync(cmd, args, { cwd: root, env: { ...process.env, ERL_COMPILER_OPTIONS: "deterministic" }, stdio: ["ignore", "ignore", "pipe"] });
};

// Compiles the sources at one fixed path (root/src → root/out) and moves the result to `dest`.
async function build(dest: string, alpha = ALPHA): Promise<void> {
  await rm(join(root, "src"), { recursive: true, force: true });
  await rm(join(root, "out"), { recursive: true, force: true });
  await mkdir(join(root, "src"));
  await mkdir(join(root, "out", "ebin"), { recursive: true });
  await writeFile(join(root, "src", "alpha.erl"), alpha);
  await writeFile(join(root, "src", "beta.erl"), BETA);
  await writeFile(join(root, "src", "gamma.ex"), GAMMA);
  run("erlc", ["+deterministic", "+debug_info", "-o", "out/ebin", "src/alpha.erl", "src/beta.erl"]);
  run("elixirc", ["--ignore-module-conflict", "-o", "out/ebin", "src/gamma.ex"]);
  await mkdir(join(root, "out", "priv"));
  await writeFile(join(root, "out", "priv", "run.sh"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await writeFile(join(root, "out", "priv", "data.txt"), "data\n");
  await symlink("data.txt", join(root, "out", "priv", "current"));
  await rename(join(root, "out"), dest);
}

// A copy of the first build to alter.
async function copyOfBase(name: string): Promise<string> {
  const dest = join(root, name);
  await cp(base, dest, { recursive: true, verbatimSymlinks: true });
  return dest;
}

async function rewriteChunk(file: string, id: string, f: (data: Buffer) => Buffer): Promise<void> {
  const beam = parseBeam(await readFile(file), file);
  const i = beam.chunks.findIndex((c) => c.id === id);
  assert.ok(i >= 0, `${file} has a ${id} chunk`);
  beam.chunks[i] = { id, data: f(beam.chunks[i].data) };
  await writeFile(file, writeBeam(beam.chunks));
}

// term_to_binary(T, [compressed]): 131, 80, u32 uncompressed size, zlib of the term without 131.
function compressedTerm(t: Term): Buffer {
  const raw = termToBinary(t).subarray(1);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(raw.length);
  return Buffer.concat([Buffer.from([131, 80]), size, deflateSync(raw)]);
}

// Adds `key => BigMap` to the map inside Elixir's `{debug_info_v1, elixir_erl, {elixir_v1, Map,
// Specs}}`; BigMap has 40 keys, so its entries are written in the order given, as the VM writes
// large maps in hash-trie order.
function withBigMap(dbgi: Buffer, reversed: boolean): Buffer {
  const t = binaryToTerm(dbgi);
  assert.equal(t.type, "tuple");
  const inner = (t as Extract<Term, { type: "tuple" }>).items[2] as Extract<Term, { type: "tuple" }>;
  const m = inner.items[1] as Extract<Term, { type: "map" }>;
  assert.equal(m.type, "map");
  const entries: [Term, Term][] = Array.from({ length: 40 }, (_, i) => [atom(`key${String(i).padStart(2, "0")}`), int(i)]);
  if (reversed) entries.reverse();
  m.entries.push([atom("beamix_test"), map(entries)]);
  return compressedTerm(t);
}

const differs = (c: Comparison) => {
  assert.equal(c.verdict, "differs", formatComparison(c).join("\n"));
  return c as Extract<Comparison, { verdict: "differs" }>;
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), "beamix-compare-"));
  base = join(root, "base");
  again = join(root, "again");
  await build(base);
  await build(again);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("BEAM container", () => {
  test("splits compiler output into chunks and writes the same bytes back", async () => {
    for (const name of ["alpha.beam", "Elixir.Gamma.beam"]) {
      const file = join(base, "ebin", name);
      const bytes = await readFile(file);
      const beam = parseBeam(bytes, file);
      const ids = beam.chunks.map((c) => c.id);
      for (const id of ["AtU8", "Code", "ImpT", "ExpT", "LitT", "Dbgi", "Line"]) assert.ok(ids.includes(id), `${name} has ${id}: ${ids}`);
      assert.deepEqual(writeBeam(beam.chunks), bytes);
    }
  });

  test("names the module from the atom table", async () => {
    assert.equal(beamModuleName(await readBeam(join(base, "ebin", "alpha.beam"))), "alpha");
    assert.equal(beamModuleName(await readBeam(join(base, "ebin", "Elixir.Gamma.beam"))), "Elixir.Gamma");
    // OTP 28 atom tables: negative count, lengths in the compact encoding (one byte below 16,
    // two bytes below 2048).
    const compact = (name: string): BeamChunk => {
      const count = Buffer.alloc(4);
      count.writeInt32BE(-1);
      const n = Buffer.byteLength(name);
      const len = n < 16 ? Buffer.from([n << 4]) : Buffer.from([((n >> 3) & 0xe0) | 0x08, n & 0xff]);
      return { id: "AtU8", data: Buffer.concat([count, len, Buffer.from(name)]) };
    };
    assert.equal(beamModuleName({ chunks: [compact("short")] }), "short");
    assert.equal(beamModuleName({ chunks: [compact("Elixir.Some.Rather.Long.Module.Name")] }), "Elixir.Some.Rather.Long.Module.Name");
    assert.equal(beamModuleName({ chunks: [{ id: "Code", data: Buffer.alloc(16) }] }), null);
  });

  test("writeBeam pads every chunk and counts the padding in the outer size", () => {
    const chunks = [
      { id: "AtU8", data: Buffer.from([0, 0, 0, 1, 1, 0x6d]) }, // 6 bytes → 2 padding
      { id: "Code", data: Buffer.from([1, 2, 3, 4]) }, // aligned
      { id: "Dbgi", data: Buffer.from([9]) }, // 1 byte → 3 padding
    ];
    const out = writeBeam(chunks);
    assert.equal(out.length, 12 + (8 + 8) + (8 + 4) + (8 + 4));
    assert.equal(out.toString("latin1", 0, 4), "FOR1");
    assert.equal(out.readUInt32BE(4), out.length - 8);
    assert.equal(out.toString("latin1", 8, 12), "BEAM");
    assert.deepEqual(out.subarray(12, 28), Buffer.from([0x41, 0x74, 0x55, 0x38, 0, 0, 0, 6, 0, 0, 0, 1, 1, 0x6d, 0, 0]));
    assert.deepEqual(parseBeam(out, "x.beam").chunks, chunks);
    assert.throws(() => writeBeam([{ id: "Cod", data: Buffer.alloc(0) }]), BeamixError);
  });

  test("the VM loads a module whose chunks were rewritten", async () => {
    const dir = await mkdtemp(join(tmpdir(), "beamix-beam-"));
    try {
      const file = join(dir, "alpha.beam");
      await cp(join(base, "ebin", "alpha.beam"), file);
      // Debug info re-encoded without compression, and the chunk moved to the front.
      const beam = await readBeam(file);
      const dbgi = beam.chunks.find((c) => c.id === "Dbgi")!;
      const plain = { id: "Dbgi", data: termToBinary(binaryToTerm(dbgi.data)) };
      await writeFile(file, writeBeam([plain, ...beam.chunks.filter((c) => c !== dbgi)]));
      const out = execFileSync(
        "erl",
        ["-noshell", "-pa", dir, "-eval", `io:format("~p ~p", [alpha:f(1), element(1, beam_lib:chunks("${file}", [abstract_code]))]), halt().`],
        { encoding: "utf8" },
      );
      assert.equal(out, "#{value => 2} ok");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("reads gzip-compressed BEAM files, as the loader does", async () => {
    const file = join(base, "ebin", "beta.beam");
    const bytes = await readFile(file);
    assert.deepEqual(parseBeam(gzipSync(bytes), file), parseBeam(bytes, file));
  });

  test("refuses malformed files, naming them", async () => {
    const good = await readFile(join(base, "ebin", "beta.beam"));
    const cases: [string, Buffer, RegExp][] = [
      ["empty", Buffer.alloc(0), /shorter than the 12-byte header/],
      ["text", Buffer.from("-module(beta).\n"), /expected "FOR1"/],
      ["truncated", good.subarray(0, good.length - 20), /header says \d+ bytes, file has \d+/],
      ["wrong form", Buffer.concat([good.subarray(0, 8), Buffer.from("BEEF"), good.subarray(12)]), /form type "BEEF"/],
      ["stray bytes", writeBeamWithTail(Buffer.from([1, 2, 3, 4])), /4 stray bytes at offset 24/],
      ["long chunk", chunkClaiming(100), /chunk "Code" at offset 12 claims 100 bytes, only 4 remain/],
      ["bad gzip", Buffer.from([0x1f, 0x8b, 1, 2, 3]), /gzip data does not inflate/],
    ];
    for (const [what, bytes, message] of cases) {
      assert.throws(
        () => parseBeam(bytes, `/some/where/${what}.beam`),
        (e: unknown) => e instanceof BeamixError && e.message.startsWith(`/some/where/${what}.beam: not a BEAM file`) && message.test(e.message),
        what,
      );
    }
    await assert.rejects(readBeam(join(root, "no-such.beam")), (e: unknown) => e instanceof BeamixError && /no-such\.beam.*ENOENT/.test(e.message));
  });

  test("classifies chunks", () => {
    for (const id of ["Code", "AtU8", "Atom", "ImpT", "ExpT", "LocT", "StrT", "LitT", "FunT", "Line", "Type", "Meta", "Attr", "ExCk"]) assert.equal(chunkClass(id), "code", id);
    for (const id of ["Dbgi", "Abst", "CInf"]) assert.equal(chunkClass(id), "debug-info", id);
    assert.equal(chunkClass("Docs"), "documentation");
    assert.equal(chunkClass("Xyzw"), "other");
  });
});

// A container with one 4-byte chunk followed by `tail` (outer size counts the tail).
function writeBeamWithTail(tail: Buffer): Buffer {
  const b = Buffer.concat([writeBeam([{ id: "Code", data: Buffer.from([1, 2, 3, 4]) }]), tail]);
  b.writeUInt32BE(b.length - 8, 4);
  return b;
}

function chunkClaiming(n: number): Buffer {
  const b = writeBeam([{ id: "Code", data: Buffer.from([1, 2, 3, 4]) }]);
  b.writeUInt32BE(n, 16);
  return b;
}

describe("compareTrees", () => {
  test("two builds at the same path are bit-identical", async () => {
    const c = await compareTrees(base, again);
    assert.deepEqual(c, { verdict: "bit-identical" });
    assert.deepEqual(formatComparison(c), ["bit-identical"]);
  });

  test("a type declaration changes only Dbgi: identical except debug info", async () => {
    const other = join(root, "with-type");
    await build(other, ALPHA_WITH_TYPE);
    const c = await compareTrees(base, other);
    assert.deepEqual(c, {
      verdict: "identical-except-debug-info",
      modules: ["alpha"],
      debugInfo: [{ path: "ebin/alpha.beam", module: "alpha", chunks: [{ id: "Dbgi", terms: "different" }] }],
    });
    assert.deepEqual(formatComparison(c), ["identical except debug info of 1 module: alpha", "  alpha (ebin/alpha.beam): Dbgi (different terms)"]);
  });

  test("Dbgi with a large map written in another order: same terms, encoded differently", async () => {
    const a = await copyOfBase("bigmap-a");
    const b = await copyOfBase("bigmap-b");
    await rewriteChunk(join(a, "ebin", "Elixir.Gamma.beam"), "Dbgi", (d) => withBigMap(d, false));
    await rewriteChunk(join(b, "ebin", "Elixir.Gamma.beam"), "Dbgi", (d) => withBigMap(d, true));
    // And an uncompressed re-encoding of alpha's debug info: other bytes, same term.
    await rewriteChunk(join(b, "ebin", "alpha.beam"), "Dbgi", (d) => termToBinary(binaryToTerm(d)));
    const c = await compareTrees(a, b);
    assert.deepEqual(c, {
      verdict: "identical-except-debug-info",
      modules: ["Elixir.Gamma", "alpha"],
      debugInfo: [
        { path: "ebin/Elixir.Gamma.beam", module: "Elixir.Gamma", chunks: [{ id: "Dbgi", terms: "equal" }] },
        { path: "ebin/alpha.beam", module: "alpha", chunks: [{ id: "Dbgi", terms: "equal" }] },
      ],
    });
    assert.deepEqual(formatComparison(c, { labels: { a: "store", b: "rebuild" } }), [
      "identical except debug info of 2 modules: Elixir.Gamma, alpha",
      "  Elixir.Gamma (ebin/Elixir.Gamma.beam): Dbgi (same terms, encoded differently)",
      "  alpha (ebin/alpha.beam): Dbgi (same terms, encoded differently)",
    ]);
  });

  test("debug-info chunks present on one side only, or not decodable", async () => {
    const b = await copyOfBase("no-cinf");
    const file = join(b, "ebin", "beta.beam");
    const beam = await readBeam(file);
    // Drop CInf and make Dbgi something binary_to_term cannot read.
    const chunks = beam.chunks.filter((ch) => ch.id !== "CInf").map((ch) => (ch.id === "Dbgi" ? { id: "Dbgi", data: Buffer.from([131, 77, 0, 0, 0, 1, 3, 0xe0]) } : ch));
    await writeFile(file, writeBeam(chunks));
    const c = await compareTrees(base, b);
    assert.equal(c.verdict, "identical-except-debug-info");
    assert.deepEqual((c as Extract<Comparison, { verdict: "identical-except-debug-info" }>).debugInfo, [
      { path: "ebin/beta.beam", module: "beta", chunks: [{ id: "CInf", terms: "only-in-a" }, { id: "Dbgi", terms: "undecodable" }] },
    ]);
    assert.equal(formatComparison(c, { labels: { a: "store", b: "rebuild" } })[1], "  beta (ebin/beta.beam): CInf (only in store), Dbgi (not decodable)");
  });

  test("changing a function differs, naming the file and the Code chunk", async () => {
    const other = join(root, "changed");
    await build(other, ALPHA_CHANGED);
    const c = differs(await compareTrees(base, other));
    assert.equal(c.files.length, 1);
    const [f] = c.files;
    assert.equal(f.path, "ebin/alpha.beam");
    assert.equal(f.kind, "content");
    assert.ok(f.chunks!.includes("Code"), `${f.chunks}`);
    // The atoms and the imports/exports are the same; the abstract code is not.
    for (const same of ["AtU8", "ImpT", "ExpT"]) assert.ok(!f.chunks!.includes(same), `${same} in ${f.chunks}`);
    assert.ok(f.chunks!.includes("Dbgi"));
    assert.deepEqual(c.debugInfo, []);
    const lines = formatComparison(c);
    assert.equal(lines[0], "differs: 1 path");
    assert.match(lines[1], /^ {2}content: ebin\/alpha\.beam \(chunks .*\bCode\b.*Dbgi \(debug-info\)/);
  });

  test("a code difference next to a debug-info-only one", async () => {
    const b = await copyOfBase("mixed");
    await rewriteChunk(join(b, "ebin", "beta.beam"), "Code", (d) => {
      const x = Buffer.from(d);
      x[x.length - 1] ^= 0xff;
      return x;
    });
    await rewriteChunk(join(b, "ebin", "alpha.beam"), "Dbgi", (d) => termToBinary(binaryToTerm(d)));
    const c = differs(await compareTrees(base, b));
    assert.deepEqual(c.files, [{ path: "ebin/beta.beam", kind: "content", chunks: ["Code"] }]);
    assert.deepEqual(c.debugInfo, [{ path: "ebin/alpha.beam", module: "alpha", chunks: [{ id: "Dbgi", terms: "equal" }] }]);
    assert.deepEqual(formatComparison(c), [
      "differs: 1 path",
      "  content: ebin/beta.beam (chunks Code)",
      "also differing only in debug info: 1 module",
      "  alpha (ebin/alpha.beam): Dbgi (same terms, encoded differently)",
    ]);
  });

  test("a documentation change is a real difference", async () => {
    const b = await copyOfBase("docs");
    await rewriteChunk(join(b, "ebin", "Elixir.Gamma.beam"), "Docs", (d) => Buffer.concat([d, Buffer.from([0])]));
    const c = differs(await compareTrees(base, b));
    assert.deepEqual(c.files, [{ path: "ebin/Elixir.Gamma.beam", kind: "content", chunks: ["Docs"] }]);
    assert.equal(formatComparison(c)[1], "  content: ebin/Elixir.Gamma.beam (chunks Docs (documentation))");
  });

  test("reordered code chunks are not 'identical except debug info'", async () => {
    const b = await copyOfBase("reordered");
    const file = join(b, "ebin", "beta.beam");
    const beam = await readBeam(file);
    const chunks = [...beam.chunks];
    const i = chunks.findIndex((ch) => ch.id === "ImpT");
    [chunks[i], chunks[i + 1]] = [chunks[i + 1], chunks[i]];
    await writeFile(file, writeBeam(chunks));
    const c = differs(await compareTrees(base, b));
    assert.deepEqual(c.files, [{ path: "ebin/beta.beam", kind: "content", chunks: [], note: "chunk order differs" }]);
  });

  test("files and directories on one side only", async () => {
    const b = await copyOfBase("only");
    await unlink(join(b, "priv", "data.txt"));
    await mkdir(join(b, "priv", "extra", "deeper"), { recursive: true });
    await writeFile(join(b, "priv", "extra", "deeper", "x"), "x");
    await writeFile(join(b, "ebin", "zeta.app"), "{application,zeta,[]}.\n");
    const c = differs(await compareTrees(base, b));
    assert.deepEqual(c.files, [
      { path: "ebin/zeta.app", kind: "only-in-b" },
      { path: "priv/data.txt", kind: "only-in-a" },
      { path: "priv/extra", kind: "only-in-b" },
    ]);
    assert.deepEqual(formatComparison(c, { labels: { a: "store", b: "rebuild" } }), [
      "differs: 3 paths",
      "  only in rebuild: ebin/zeta.app",
      "  only in store: priv/data.txt",
      "  only in rebuild: priv/extra",
    ]);
  });

  test("executable bit, symlink target, file type and contents", async () => {
    const b = await copyOfBase("modes");
    await chmod(join(b, "priv", "run.sh"), 0o644);
    await unlink(join(b, "priv", "current"));
    await symlink("run.sh", join(b, "priv", "current"));
    await writeFile(join(b, "priv", "data.txt"), "DATA\n"); // same size
    await rm(join(b, "ebin", "beta.beam"));
    await symlink("alpha.beam", join(b, "ebin", "beta.beam"));
    const c = differs(await compareTrees(base, b));
    assert.deepEqual(c.files, [
      { path: "ebin/beta.beam", kind: "type", types: { a: "regular file", b: "symlink" } },
      { path: "priv/current", kind: "symlink", targets: { a: "data.txt", b: "run.sh" } },
      { path: "priv/data.txt", kind: "content" },
      { path: "priv/run.sh", kind: "mode", executable: { a: true, b: false } },
    ]);
    assert.deepEqual(formatComparison(c), [
      "differs: 4 paths",
      "  type: ebin/beta.beam (a: regular file, b: symlink)",
      "  symlink: priv/current (a -> data.txt, b -> run.sh)",
      "  content: priv/data.txt",
      "  mode: priv/run.sh (a: executable, b: not executable)",
    ]);
  });

  test("a mode and a content difference on one file, files of different sizes", async () => {
    const a = await copyOfBase("both-a");
    const b = await copyOfBase("both-b");
    await chmod(join(a, "priv", "run.sh"), 0o444);
    await writeFile(join(b, "priv", "run.sh"), "#!/bin/sh\nexit 1\n# longer\n");
    await chmod(join(b, "priv", "run.sh"), 0o555);
    const c = differs(await compareTrees(a, b));
    assert.deepEqual(c.files, [
      { path: "priv/run.sh", kind: "mode", executable: { a: false, b: true } },
      { path: "priv/run.sh", kind: "content", sizes: { a: 17, b: 26 } },
    ]);
    assert.deepEqual(formatComparison(c), [
      "differs: 1 path",
      "  mode: priv/run.sh (a: not executable, b: executable)",
      "  content: priv/run.sh (a: 17 bytes, b: 26 bytes)",
    ]);
  });

  test("a .beam file that is not a BEAM file is reported, not thrown", async () => {
    const b = await copyOfBase("broken");
    await writeFile(join(b, "ebin", "beta.beam"), "not a beam");
    const c = differs(await compareTrees(base, b));
    assert.equal(c.files.length, 1);
    assert.equal(c.files[0].path, "ebin/beta.beam");
    assert.equal(c.files[0].kind, "content");
    assert.equal(c.files[0].chunks, undefined);
    assert.match(c.files[0].note!, /^chunks not compared: .*broken\/ebin\/beta\.beam: not a BEAM file/);
  });

  test("single files as roots, and missing roots", async () => {
    assert.deepEqual(await compareTrees(join(base, "ebin", "alpha.beam"), join(again, "ebin", "alpha.beam")), { verdict: "bit-identical" });
    const c = differs(await compareTrees(join(base, "ebin", "alpha.beam"), join(base, "ebin", "beta.beam")));
    assert.equal(c.files[0].path, ".");
    assert.ok(c.files[0].chunks!.includes("AtU8"));
    await assert.rejects(compareTrees(base, join(root, "missing")), (e: unknown) => e instanceof BeamixError && e.message.includes("missing") && e.message.includes("ENOENT"));
  });
});
