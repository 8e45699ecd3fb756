// Property tests of the readers that take bytes from anyone (issue 12): the Erlang term reader
// (every package's metadata.config), the tar readers (package tarballs and their contents) and
// the substitute record parser (whatever a cache sends). Random inputs, and real valid inputs
// mutated (bits flipped, cut short, bytes inserted, deleted or repeated, headers rewritten with a
// correct checksum so the reader goes past it), must either be read or refused with beamix's own
// error, in one line; never another exception. What is read stays within limits proportional to
// the input, which the readers enforce (nothing here measures time or memory directly).
//
// Seeds are fixed so a failure replays; BEAMIX_FC_SEED and BEAMIX_FC_RUNS explore further.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { BeamixError } from "../src/errors.ts";
import { BINARY_BYTES_BASE, BINARY_BYTES_PER_CHAR, MAX_DEPTH, parseTerms } from "../src/erlang/parse.ts";
import { prettyTerm } from "../src/erlang/pretty.ts";
import type { Term } from "../src/erlang/term.ts";
import { gunzip, gzipHexTarball } from "../src/hex/gzip.ts";
import { parseMetadataConfig } from "../src/hex/metadata-terms.ts";
import { BLOCK, readTar, writeTar, type TarWriteEntry } from "../src/hex/tar.ts";
import { MAX_METADATA_BYTES, MAX_UNPACKED_BYTES, readTarball } from "../src/hex/tarball.ts";
import { MAX_SYMLINK_STEPS, readContents } from "../src/hex/unpack.ts";
import { generateKeyPair, parseSecretKey } from "../src/signing/keys.ts";
import { formatRecord, MAX_RECORD_BYTES, parseRecord, signRecord, verifyRecord, type SubstituteRecord } from "../src/substitute/format/record.ts";
import { recordForItem, toolchainLine } from "../src/substitute/format/item-record.ts";
import type { StoreItem } from "../src/store/store.ts";
import { genTerm, rng } from "./support/erlang-gen.ts";

const SEED = process.env.BEAMIX_FC_SEED === undefined ? undefined : Number(process.env.BEAMIX_FC_SEED);
const RUNS = process.env.BEAMIX_FC_RUNS === undefined ? undefined : Number(process.env.BEAMIX_FC_RUNS);
const params = (seed: number, numRuns: number): fc.Parameters<unknown> => ({ seed: SEED ?? seed, numRuns: RUNS ?? numRuns });

// Runs f; returns its result, or undefined when it refused the input with a one-line BeamixError.
function readOrRefuse<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof BeamixError)) throw e;
    assert.doesNotMatch(e.message, /[\n\r]/, "an error message is one line");
    return undefined;
  }
}

// ---- mutations of valid inputs ----

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "cut"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "repeat"; at: number; length: number; times: number }
  | { kind: "header"; block: number; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 2, max: 200 }) }),
  // For tars: bytes written into one header, whose checksum is then made right again.
  fc.record({ kind: fc.constant("header" as const), block: fc.nat(), at: fc.nat(511), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
);

function tarChecksum(block: Buffer): void {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i];
  block.write(sum.toString(8).padStart(7, "0") + "\0", 148, 8, "latin1");
}

function mutate(input: Uint8Array, mutations: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case "flip":
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case "cut":
        b = b.subarray(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case "repeat": {
        const piece = b.subarray(at, at + m.length);
        b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(piece), b.subarray(at + m.length)]);
        break;
      }
      case "header": {
        const blocks = Math.floor(b.length / BLOCK);
        if (blocks === 0) break;
        const block = b.subarray((m.block % blocks) * BLOCK, (m.block % blocks + 1) * BLOCK);
        Buffer.from(m.bytes).copy(block, m.at);
        tarChecksum(block);
        break;
      }
    }
  }
  return b;
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

// ---- the Erlang term reader ----

const VEC = join(import.meta.dirname, "vectors/hex");
const DECODED = join(VEC, "tarballs/decoded");
const metadataVectors = readdirSync(DECODED)
  .filter((f) => f.endsWith(".metadata.config"))
  .map((f) => readFileSync(join(DECODED, f)));
const termTexts: Buffer[] = [...metadataVectors];
{
  const r = rng(12);
  for (let i = 0; i < 40; i++) termTexts.push(Buffer.from(prettyTerm(genTerm(r)) + ".\n"));
}

// What a read term may hold: no more nodes than characters, no deeper than MAX_DEPTH, no more
// binary bytes than the text's allowance.
function checkTermBounds(terms: Term[], text: string): void {
  let nodes = 0;
  let binaryBytes = 0;
  let deepest = 0;
  const walk = (t: Term, depth: number): void => {
    nodes++;
    deepest = Math.max(deepest, depth);
    switch (t.type) {
      case "binary":
        binaryBytes += t.value.length;
        break;
      case "string":
        nodes += [...t.value].length;
        break;
      case "list":
        for (const x of t.items) walk(x, depth + 1);
        if (t.tail) walk(t.tail, depth + 1);
        break;
      case "tuple":
        for (const x of t.items) walk(x, depth + 1);
        break;
      case "map":
        for (const [k, v] of t.entries) {
          walk(k, depth + 1);
          walk(v, depth + 1);
        }
        break;
    }
  };
  for (const t of terms) walk(t, 0);
  assert.ok(nodes <= text.length + 1, `${nodes} term nodes from ${text.length} characters`);
  assert.ok(deepest <= MAX_DEPTH, `nested ${deepest} deep`);
  assert.ok(binaryBytes <= BINARY_BYTES_BASE + BINARY_BYTES_PER_CHAR * text.length, `${binaryBytes} binary bytes`);
}

function readTermText(bytes: Uint8Array): void {
  const text = Buffer.from(bytes).toString("utf8");
  const terms = readOrRefuse(() => parseTerms(text, "metadata.config"));
  if (terms) checkTermBounds(terms, text);
  readOrRefuse(() => parseMetadataConfig(text, "pkg: metadata.config"));
}

// Pieces of Erlang term syntax, so random texts get past the first character.
const TERM_PIECES = [
  "<<", ">>", "#{", "{", "}", "[", "]", "|", ",", "=>", ":", "/", "-", "+", ".", " ", "\n", "%c\n", "a", "'q'", "X",
  "end", "0", "1", "255", "-1", "16#ff", "36#zz", "1_0", "1.5", "2.0e3", "$a", "$\\x{263A}", '"ab"', '""', '"\\x{10FFFF}"',
  "utf8", "utf16-little", "utf32", "float", "integer", "unit:8", "unit:256", "8", "16", "64", "3", "9999999", "99999999999999999999",
  '<<"app">>', '{<<"name">>,<<"x">>}.', '{<<"version">>,<<"1.0.0">>}.', '{<<"files">>,[', '{<<"requirements">>,[[',
];

test("term reader: random texts are read or refused with a BeamixError, within the limits", () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(...TERM_PIECES), { maxLength: 60 }), (pieces) => readTermText(Buffer.from(pieces.join("")))), params(1, 3000));
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => readTermText(Buffer.from(s))), params(2, 2000));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), readTermText), params(3, 1000));
});

test("term reader: mutated metadata.config files and printed terms are read or refused with a BeamixError", () => {
  fc.assert(
    fc.property(fc.constantFrom(...termTexts), mutations, (text, ms) => readTermText(mutate(text, ms))),
    params(4, 3000),
  );
});

// ---- the tar readers ----

const pathPart = fc.oneof(
  fc.constantFrom("a", "lib", "priv", "..", ".", "", "x".repeat(120), "é", "dir"),
  fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes("/") && !s.includes("\0")),
);
const entryPath = fc.array(pathPart, { minLength: 1, maxLength: 5 }).map((ps) => ps.join("/"));
const tarEntry: fc.Arbitrary<TarWriteEntry> = fc.oneof(
  fc.record({ name: entryPath, mode: fc.constantFrom(0o644, 0o755), data: fc.uint8Array({ maxLength: 700 }) }),
  fc.record({ name: entryPath, mode: fc.constant(0o755), type: fc.constant("directory" as const) }),
  fc.record({ name: entryPath, mode: fc.constant(0o777), type: fc.constant("symlink" as const), linkname: fc.oneof(entryPath, entryPath.map((p) => `/${p}`)) }),
  fc.record({ name: entryPath, mode: fc.constant(0o644), type: fc.constant("hardlink" as const), linkname: entryPath }),
);
const tarOf = (entries: TarWriteEntry[]): Buffer | undefined => readOrRefuse(() => writeTar(entries));
const tarArchive = fc.array(tarEntry, { maxLength: 6 }).map(tarOf).filter((t): t is Buffer => t !== undefined);

const vectorTarballs = ["tarballs", "tarball-variants"].flatMap((dir) =>
  readdirSync(join(VEC, dir))
    .filter((f) => f.endsWith(".tar"))
    .map((f) => readFileSync(join(VEC, dir, f))),
);
const vectorContents = vectorTarballs.map((t) => readTarball(t).contentsGz);
const vectorContentTars = vectorContents.map((gz) => gunzip(gz, MAX_UNPACKED_BYTES));

// What readTar returns holds no more than the archive: entries are views into it, one header each.
function readTarBounded(bytes: Buffer): void {
  const entries = readOrRefuse(() => readTar(bytes, { label: "x.tar" }));
  if (!entries) return;
  assert.ok(entries.length <= bytes.length / BLOCK);
  let data = 0;
  for (const e of entries) {
    assert.ok(e.data.length === 0 || e.data.buffer === bytes.buffer, "entry data is a view into the archive");
    data += e.data.length;
  }
  assert.ok(data <= bytes.length);
}

// What readContents accepts fits the unpacked-size limit, and every path stays inside.
function readContentsBounded(gz: Buffer): void {
  const limit = 1 << 20;
  const entries = readOrRefuse(() => readContents(gz, { label: "contents.tar.gz", maxUnpackedBytes: limit }));
  if (!entries) return;
  let total = 0;
  for (const e of entries) {
    assert.ok(!e.path.startsWith("/") && !e.path.split("/").includes(".."), e.path);
    if (e.type === "file") total += e.data.length;
  }
  assert.ok(total <= limit);
}

test("tar reader: random, written and mutated archives are read or refused with a BeamixError", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3 * BLOCK }), (b) => readTarBounded(Buffer.from(b))), params(5, 500));
  fc.assert(fc.property(tarArchive, readTarBounded), params(6, 500));
  fc.assert(fc.property(tarArchive, mutations, (tar, ms) => readTarBounded(mutate(tar, ms))), params(7, 2000));
  fc.assert(fc.property(fc.constantFrom(...vectorTarballs, ...vectorContentTars), mutations, (tar, ms) => readTarBounded(mutate(tar, ms))), params(8, 1500));
});

test("package contents: written and mutated contents.tar.gz are read or refused with a BeamixError", () => {
  fc.assert(fc.property(tarArchive, (tar) => readContentsBounded(gzipHexTarball(tar))), params(9, 500));
  fc.assert(fc.property(tarArchive, mutations, (tar, ms) => readContentsBounded(gzipHexTarball(mutate(tar, ms)))), params(10, 1500));
  fc.assert(fc.property(fc.constantFrom(...vectorContentTars), mutations, (tar, ms) => readContentsBounded(gzipHexTarball(mutate(tar, ms)))), params(11, 1000));
  // The compressed stream itself damaged.
  fc.assert(fc.property(fc.constantFrom(...vectorContents), mutations, (gz, ms) => readContentsBounded(mutate(gz, ms))), params(12, 1000));
});

// A format 3 tarball around the given members, with a CHECKSUM that matches them, so that the
// reader gets past the checksums to the metadata and the contents.
function tarballAround(metadata: Buffer, contentsGz: Buffer): Buffer {
  const inner = createHash("sha256").update("3").update(metadata).update(contentsGz).digest("hex").toUpperCase();
  return writeTar([
    { name: "VERSION", mode: 0o644, data: Buffer.from("3") },
    { name: "CHECKSUM", mode: 0o644, data: Buffer.from(inner) },
    { name: "metadata.config", mode: 0o644, data: metadata },
    { name: "contents.tar.gz", mode: 0o644, data: contentsGz },
  ]);
}

function readTarballBounded(tarball: Buffer): void {
  const t = readOrRefuse(() => readTarball(tarball, { file: "pkg-1.0.0.tar" }));
  if (!t) return;
  assert.ok(Buffer.byteLength(t.metadataText, "latin1") <= MAX_METADATA_BYTES * 3);
  readContentsBounded(t.contentsGz);
}

test("package tarballs: mutated tarballs, metadata and contents are read or refused with a BeamixError", () => {
  fc.assert(fc.property(fc.constantFrom(...vectorTarballs), mutations, (t, ms) => readTarballBounded(mutate(t, ms))), params(13, 1000));
  fc.assert(
    fc.property(fc.constantFrom(...metadataVectors), mutations, fc.constantFrom(...vectorContents), (meta, ms, gz) => readTarballBounded(tarballAround(mutate(meta, ms), gz))),
    params(14, 1500),
  );
  fc.assert(
    fc.property(fc.constantFrom(...metadataVectors), fc.constantFrom(...vectorContentTars), mutations, (meta, tar, ms) => readTarballBounded(tarballAround(meta, gzipHexTarball(mutate(tar, ms))))),
    params(15, 1000),
  );
});

test("package contents: a path of 200,000 components and a link through 400,000 are checked in linear time", () => {
  // Each parent and each link step used to join every component again: minutes for these.
  const deep = Array<string>(200_000).fill("a").join("/");
  const entries = readContents(gzipHexTarball(writeTar([{ name: deep, mode: 0o644, data: Buffer.from("x") }])));
  assert.equal(entries[0].path, deep);
  const far = Array<string>(400_000).fill("a").join("/");
  const link = readContents(gzipHexTarball(writeTar([{ name: "l", mode: 0o777, type: "symlink", linkname: far }])));
  assert.deepEqual(link, [{ path: "l", type: "symlink", target: far }]);
});

test("package contents: symlinks that would take too long to check are refused by a limit", () => {
  // 1,100 links, each through a 4,000-component target: more steps than the archive may take.
  const target = Array<string>(4000).fill("d").join("/");
  const links: TarWriteEntry[] = Array.from({ length: 1100 }, (_, i) => ({ name: `l${i}`, mode: 0o777, type: "symlink", linkname: target }));
  assert.throws(
    () => readContents(gzipHexTarball(writeTar(links)), { label: "pkg: contents.tar.gz" }),
    (e: unknown) => e instanceof BeamixError && e.message === `pkg: contents.tar.gz: symlink "l1048" -> "${target}": too many symbolic link steps to check (over ${MAX_SYMLINK_STEPS} in the archive)`,
  );
});

// ---- the substitute record parser ----

const key = parseSecretKey(generateKeyPair("cache-a-1").secretText);
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const drvHash = fc.stringMatching(/^[0-9a-z]{16,64}$/);
const itemNamePart = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,30}$/);
const versionPart = fc.stringMatching(/^[A-Za-z0-9_.+-]{1,20}$/);
const size = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const substituteRecord: fc.Arbitrary<SubstituteRecord> = fc
  .record({
    name: itemNamePart,
    version: versionPart,
    drvHash,
    url: fc.constantFrom("archives/x.nar.zst", "a/b", "archives/0123.nar"),
    compression: fc.constantFrom("zstd" as const, "none" as const),
    fileHash: hex64,
    fileSize: size,
    narHash: hex64,
    narSize: size,
    references: fc.uniqueArray(fc.tuple(drvHash, itemNamePart, versionPart).map(([d, n, v]) => `${d}-${n}-${v}`), { maxLength: 6 }),
    toolchain: fc.option(fc.constantFrom("otp=25 erts=13.1.5", "otp=26"), { nil: undefined }),
    deriver: fc.option(fc.json({ maxDepth: 3 }), { nil: undefined }),
  })
  .map((r) => {
    const out: SubstituteRecord = { ...r, references: [...r.references].sort(), signatures: [] };
    if (r.toolchain === undefined) delete out.toolchain;
    if (r.deriver === undefined) delete out.deriver;
    return signRecord(out, key);
  });

function readRecord(text: string): void {
  const r = readOrRefuse(() => parseRecord(text, "x.beamixinfo"));
  if (Buffer.byteLength(text) > MAX_RECORD_BYTES) assert.equal(r, undefined, "a record over the size limit is refused");
  if (!r) return;
  assert.ok(r.references.length <= text.length / 18);
  // Whatever parses can be checked for trust without throwing.
  const v = verifyRecord(r, [key.publicKey], 1);
  assert.equal(typeof v.ok, "boolean");
}

test("records: random and mutated records are read or refused with a BeamixError", () => {
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), readRecord), params(16, 2000));
  fc.assert(
    fc.property(substituteRecord, mutations, (r, ms) => readRecord(mutate(Buffer.from(formatRecord(r)), ms).toString("utf8"))),
    params(17, 3000),
  );
  // Lines cut out, repeated or swapped.
  fc.assert(
    fc.property(substituteRecord, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (r, picks) => {
      const lines = formatRecord(r).split("\n").slice(0, -1);
      for (const p of picks) lines.splice(p % (lines.length + 1), 0, lines[(p >> 3) % lines.length]);
      readRecord(lines.join("\n") + "\n");
      readRecord(lines.slice(1).join("\n") + "\n");
    }),
    params(18, 1000),
  );
  readRecord("Name: x\n".repeat(MAX_RECORD_BYTES));
});

test("records: every record reads back as written, and its signature verifies", () => {
  fc.assert(
    fc.property(substituteRecord, (r) => {
      const back = parseRecord(formatRecord(r), "x.beamixinfo");
      assert.deepEqual(back, r);
      assert.equal(verifyRecord(back, [key.publicKey], 1).ok, true);
    }),
    params(19, 1000),
  );
});

// Store items as the store holds them: names by the store's rules, any deriver.
const storeItem: fc.Arbitrary<StoreItem> = fc
  .record({
    drvHash,
    name: itemNamePart,
    version: versionPart,
    narHash: hex64,
    narSize: size,
    refs: fc.oneof(
      fc.uniqueArray(fc.tuple(drvHash, itemNamePart, versionPart).map(([d, n, v]) => `${d}-${n}-${v}`), { maxLength: 20 }),
      // Enough long references to pass the record size limit.
      fc.integer({ min: 1, max: 1000 }).map((n) => Array.from({ length: n }, (_, i) => `${String(i).padStart(64, "0")}-a_package_with_a_long_name-${i}.0.0`)),
    ),
    derivation: fc.option(
      fc.record({
        toolchain: fc.dictionary(fc.constantFrom("otpRelease", "otpVersion", "ertsVersion", "elixirVersion", "other"), fc.oneof(fc.string({ unit: "binary", maxLength: 10 }), fc.jsonValue())),
        phases: fc.array(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.constantFrom("a\u2028b", "\u2029", "x".repeat(20_000))), { maxLength: 20 }),
      }),
      { nil: undefined },
    ),
  })
  .filter((x) => !x.refs.includes(`${x.drvHash}-${x.name}-${x.version}`))
  .map((x) => ({
    path: `/store/${x.drvHash}-${x.name}-${x.version}`,
    drvHash: x.drvHash,
    name: x.name,
    version: x.version,
    narHash: x.narHash,
    narSize: x.narSize,
    registeredAt: 0,
    deriver: x.derivation === undefined ? null : { derivation: x.derivation },
    references: x.refs.map((r) => `/store/${r}`).sort(),
  }));

test("records made for store items are records clients accept", () => {
  fc.assert(
    fc.property(storeItem, fc.constantFrom("zstd" as const, "none" as const), hex64, size, (item, compression, fileHash, fileSize) => {
      const made = readOrRefuse(() => recordForItem(item, { compression, fileHash, fileSize, narHash: item.narHash, narSize: item.narSize }, "archives/x.nar.zst"));
      // Refused only when the references alone are too many for a record.
      if (made === undefined) return assert.ok(item.references.length > 400, `${item.references.length} references refused`);
      const record = signRecord(made, key);
      const text = formatRecord(record);
      assert.ok(Buffer.byteLength(text) <= MAX_RECORD_BYTES);
      const back = parseRecord(text, "x.beamixinfo");
      assert.deepEqual(back, record);
      assert.equal(verifyRecord(back, [key.publicKey], 1).ok, true);
    }),
    params(20, 500),
  );
  fc.assert(fc.property(fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }), (tc) => {
    const line = toolchainLine(tc);
    assert.ok(line === undefined || /^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(line), JSON.stringify(line));
  }), params(21, 1000));
});
