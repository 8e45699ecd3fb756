// The Hex package tarball: gzip, ustar, metadata.config and the whole tarball, compared byte
// for byte with what the real Hex 2.1.1 wrote (test/vectors/hex/tarballs, tarball-variants).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { BeamixError } from "../src/errors.ts";
import { atom, bin, list, tuple, type Term } from "../src/erlang/term.ts";
import { parseTerms } from "../src/erlang/parse.ts";
import { gunzip, gzipHexTarball, gzipRegistry } from "../src/hex/gzip.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";
import { formatMetadataConfig, metadataFromTerms, metadataToTerms, parseMetadataConfig } from "../src/hex/metadata-terms.ts";
import { encodeTarHeader, readTar, writeTar, type TarWriteEntry } from "../src/hex/tar.ts";
import { buildTarball, MAX_METADATA_BYTES, MAX_TARBALL_BYTES, readTarball } from "../src/hex/tarball.ts";

const VEC = join(import.meta.dirname, "vectors/hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface LayoutMember {
  header_offset: number;
  fields: Record<string, string>;
  size: number;
  data_sha256: string;
  header_hex: string;
}
interface Layout {
  outer_tar: { members: LayoutMember[]; total_size: number };
  inner_tar: { members: LayoutMember[]; total_size: number };
  contents_tar_gz: { header_hex: string; uncompressed_sha256: string };
}
interface Vector {
  dir: string; // tarballs or tarball-variants
  id: string; // file name without .tar
  source: string; // directory under sources/
  overrides: Record<string, string>; // member path → file under sources/ (the hexpm-deps mix.exs)
  outer: string;
  inner: string;
  size: number;
}

function checksums(dir: string): Map<string, { size: number; outer: string; inner: string }> {
  const out = new Map();
  for (const line of readFileSync(join(VEC, dir, "checksums.txt"), "utf8").split("\n")) {
    const m = /^(\S+)\.tar (\d+) outer ([0-9a-f]{64}) inner ([0-9a-f]{64})$/.exec(line);
    if (m) out.set(m[1], { size: Number(m[2]), outer: m[3], inner: m[4] });
  }
  return out;
}

const VECTORS: Vector[] = (["tarballs", "tarball-variants"] as const).flatMap((dir) =>
  [...checksums(dir)].map(([id, c]) => {
    const pkg = id.split(".")[0] + "." + id.split(".")[1] + "." + id.split(".")[2]; // vec_core-0.3.0
    const name = pkg.replace(/-[\d.]+$/, "");
    const source = name === "vec_erl" ? pkg : name;
    const overrides: Record<string, string> = id.endsWith(".hexpm-deps") ? { "mix.exs": "variants/vec_core-hexpm-deps.mix.exs" } : {};
    return { dir, id, source, overrides, ...c };
  }),
);

const layout = (v: Vector): Layout => JSON.parse(readFileSync(join(VEC, v.dir, "decoded", `${v.id}.layout.json`), "utf8"));
const vectorTar = (v: Vector) => readFileSync(join(VEC, v.dir, `${v.id}.tar`));
const vectorMetadataText = (v: Vector) => readFileSync(join(VEC, v.dir, "decoded", `${v.id}.metadata.config`), "utf8");
const sourceFile = (v: Vector, path: string) => readFileSync(join(VEC, "sources", v.overrides[path] ?? join(v.source, path)));

// The inner files of a vector in its member order, with its modes, read from sources/.
function vectorFiles(v: Vector) {
  return layout(v).inner_tar.members.map((m) => {
    const data = sourceFile(v, m.fields.name);
    assert.equal(sha256(data), m.data_sha256, `${v.id}: sources/ holds ${m.fields.name} as packed`);
    return { path: m.fields.name, mode: parseInt(m.fields.mode, 8), data };
  });
}

const members = (tar: Buffer) => new Map(readTar(tar).map((e) => [e.name, e.data]));

function throwsBeamix(fn: () => unknown, message: RegExp | string) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BeamixError, `expected a BeamixError, got ${err}`);
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test("the vectors are all here", () => {
  assert.equal(VECTORS.length, 11);
  assert.deepEqual(
    VECTORS.map((v) => v.source),
    ["vec_alias", "vec_core", "vec_erl-1.0.0", "vec_erl-1.1.0", "vec_opt", "vec_core", "vec_core", "vec_erl-1.0.0", "vec_erl-1.1.0", "vec_opt", "vec_opt"],
  );
});

// ---- gzip ----

test("gzipHexTarball reproduces every contents.tar.gz Hex wrote", () => {
  for (const v of VECTORS) {
    const gz = members(vectorTar(v)).get("contents.tar.gz")!;
    const tar = zlib.gunzipSync(gz);
    const again = gzipHexTarball(tar);
    assert.equal(again.subarray(0, 10).toString("hex"), "1f8b0800000000000000");
    assert.ok(again.equals(gz), `${v.id}: contents.tar.gz differs`);
  }
});

test("gzipRegistry writes zlib:gzip/1's OS 3 header and Hex's bytes", () => {
  const file = readFileSync(join(VEC, "registry/public/packages/vec_core"));
  const again = gzipRegistry(zlib.gunzipSync(file));
  assert.equal(again.subarray(0, 10).toString("hex"), "1f8b0800000000000003");
  assert.ok(again.equals(file));
});

test("gunzip round-trips and checks the trailer", () => {
  const data = Buffer.from("hello, hex ".repeat(1000));
  const gz = gzipHexTarball(data);
  assert.ok(gunzip(gz, data.length).equals(data));
  assert.ok(gunzip(zlib.gzipSync(data), data.length).equals(data)); // a header with OS 3, any writer

  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8] ^= 1;
  throwsBeamix(() => gunzip(badCrc, 1 << 20, "x.gz"), "x.gz: gzip CRC32 mismatch");
  const badLength = Buffer.from(gz);
  badLength[badLength.length - 1] ^= 1;
  throwsBeamix(() => gunzip(badLength, 1 << 20, "x.gz"), "x.gz: gzip length mismatch");
  throwsBeamix(() => gunzip(Buffer.concat([gz, Buffer.from("junk")]), 1 << 20, "x.gz"), "x.gz: 4 unexpected bytes after the gzip data");
  throwsBeamix(() => gunzip(Buffer.concat([gz, gz]), 1 << 20, "x.gz"), /unexpected bytes after the gzip data/);
  throwsBeamix(() => gunzip(gz.subarray(0, gz.length - 20), 1 << 20, "x.gz"), "x.gz: truncated gzip data");
  throwsBeamix(() => gunzip(gz.subarray(0, gz.length - 4), 1 << 20, "x.gz"), "x.gz: truncated gzip trailer");
  throwsBeamix(() => gunzip(Buffer.from("not gzip at all, no"), 1 << 20, "x.gz"), "x.gz: not gzip data (bad magic bytes)");
  throwsBeamix(() => gunzip(data.subarray(0, 5), 1 << 20, "x.gz"), "x.gz: not gzip data (only 5 bytes)");
});

test("gunzip stops at the size limit", () => {
  const data = Buffer.alloc(1 << 20);
  const gz = gzipHexTarball(data);
  assert.ok(gz.length < 2048);
  assert.equal(gunzip(gz, 1 << 20).length, 1 << 20);
  throwsBeamix(() => gunzip(gz, (1 << 20) - 1, "bomb.gz"), `bomb.gz: decompresses to more than the limit of ${(1 << 20) - 1} bytes`);
});

// ---- tar ----

test("writeTar reproduces every outer and inner header byte of the vectors", () => {
  for (const v of VECTORS) {
    const lay = layout(v);
    const tar = vectorTar(v);
    const outer = readTar(tar);
    const inner = readTar(zlib.gunzipSync(outer.find((e) => e.name === "contents.tar.gz")!.data));
    for (const [entries, expected] of [
      [outer, lay.outer_tar],
      [inner, lay.inner_tar],
    ] as const) {
      assert.deepEqual(
        entries.map((e) => [e.name, e.type, e.mode, e.size, e.offset]),
        expected.members.map((m) => [m.fields.name, "file", parseInt(m.fields.mode, 8) & 0o7777, m.size, m.header_offset]),
      );
      const rebuilt = writeTar(entries.map((e) => ({ name: e.name, mode: parseInt(expected.members.find((m) => m.fields.name === e.name)!.fields.mode, 8), data: e.data })));
      assert.equal(rebuilt.length, expected.total_size);
      for (const m of expected.members) {
        assert.equal(rebuilt.subarray(m.header_offset, m.header_offset + 512).toString("hex"), m.header_hex, `${v.id}: header of ${m.fields.name}`);
      }
      assert.ok(rebuilt.subarray(rebuilt.length - 1024).every((b) => b === 0), "two zero blocks at the end");
    }
    assert.ok(writeTar(outer.map((e) => ({ name: e.name, mode: 0o100644, data: e.data }))).equals(tar), `${v.id}: whole outer tar`);
  }
});

test("mode: permission bits and a whole st_mode give the same header", () => {
  const a = writeTar([{ name: "x", mode: 0o755, data: Buffer.from("x") }]);
  const b = writeTar([{ name: "x", mode: 0o100755, data: Buffer.from("x") }]);
  assert.ok(a.equals(b));
  assert.equal(a.subarray(100, 108).toString("latin1"), "0100755\0");
  assert.equal(a.subarray(148, 156).toString("latin1").length, 8);
  assert.match(a.subarray(148, 156).toString("latin1"), /^[0-7]{7}\0$/);
});

test("long names: ustar prefix split at the last slash, PAX otherwise; the reader gets them back", () => {
  const split = "a".repeat(60) + "/" + "b".repeat(60) + "/c.txt";
  const names = [
    split,
    "p".repeat(155) + "/f", // prefix exactly 155
    "p".repeat(156) + "/f", // one over: PAX
    "x/" + "w".repeat(100), // a split name gets 99 bytes: PAX
    "a".repeat(100) + "/" + "b".repeat(60) + "/" + "c".repeat(30), // only an earlier slash would fit: PAX
    "q".repeat(101),
    "héllo/wörld.txt",
  ];
  const tar = writeTar(names.map((name) => ({ name, mode: 0o644, data: Buffer.from(name) })));
  const entries = readTar(tar);
  assert.deepEqual(
    entries.map((e) => [e.name, e.data.toString()]),
    names.map((n) => [n, n]),
  );
  const first = tar.subarray(0, 512);
  assert.equal(first.subarray(0, 100).toString("latin1").replace(/\0+$/, ""), "c.txt");
  assert.equal(first.subarray(345, 500).toString("latin1").replace(/\0+$/, ""), split.slice(0, -6));
  // The PAX header of the non-ASCII name drops the non-ASCII characters from its own name.
  const paxHeaders = [];
  for (let off = 0; off < tar.length - 1024; ) {
    const h = tar.subarray(off, off + 512);
    const size = parseInt(h.subarray(124, 135).toString("latin1"), 8);
    if (h[156] === 0x78) paxHeaders.push(h.subarray(0, 100).toString("latin1").replace(/\0+$/, ""));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  assert.deepEqual(paxHeaders, ["p".repeat(99), "x/PaxHeaders.0/" + "w".repeat(84), "a".repeat(99), "./PaxHeaders.0/" + "q".repeat(84), "hllo/PaxHeaders.0/wrld.txt"]);
});

// erl_tar is what hex_core's writer derives from: compare with it directly when Erlang is here.

test("writeTar matches OTP's erl_tar for long, non-ASCII, directory and symlink entries", () => {
  const dir = mkdtempSync(join(tmpdir(), "beamix-erltar-"));
  try {
    const longTarget = "t".repeat(120);
    mkdirSync(join(dir, "emptydir"));
    writeFileSync(join(dir, "exe"), "#!/bin/sh\n");
    chmodSync(join(dir, "exe"), 0o755);
    symlinkSync("exe", join(dir, "link"));
    symlinkSync(longTarget, join(dir, "longlink"));
    const entries: (TarWriteEntry & { disk?: string })[] = [
      { name: "short.txt", mode: 0o644, data: Buffer.from("short") },
      { name: "a".repeat(60) + "/" + "b".repeat(60) + "/c.txt", mode: 0o644, data: Buffer.from("split") },
      { name: "d/" + "y".repeat(99), mode: 0o644, data: Buffer.from("y") },
      { name: "z".repeat(100), mode: 0o644, data: Buffer.from("z") },
      { name: "p".repeat(155) + "/" + "f".repeat(99), mode: 0o644, data: Buffer.from("f") },
      { name: "a".repeat(100) + "/" + "b".repeat(60) + "/" + "c".repeat(30), mode: 0o644, data: Buffer.from("pax") },
      { name: "q".repeat(101), mode: 0o644, data: Buffer.from("q") },
      { name: "héllo/wörld.txt", mode: 0o644, data: Buffer.from("ü") },
      { name: "bin/exe", mode: 0o755, data: Buffer.from("#!/bin/sh\n"), disk: "exe" },
      { name: "priv/empty", mode: 0o755, type: "directory", disk: "emptydir" },
      { name: "priv/link", mode: 0o777, type: "symlink", linkname: "exe", disk: "link" },
      { name: "x/" + "w".repeat(100), mode: 0o777, type: "symlink", linkname: longTarget, disk: "longlink" },
    ];
    const erlList = (s: string) => `[${[...s].map((c) => c.codePointAt(0)).join(",")}]`;
    const erlBin = (b: Buffer) => `<<${[...b].join(",")}>>`;
    const adds = entries
      .map((e) =>
        e.disk
          ? `ok = erl_tar:add(T, ${erlList(join(dir, e.disk))}, ${erlList(e.name)}, O)`
          : `ok = erl_tar:add(T, ${erlBin(e.data as Buffer)}, ${erlList(e.name)}, O)`,
      )
      .join(", ");
    const out = join(dir, "out.tar");
    const script = `O = [{mtime, 946684800}, {uid, 0}, {gid, 0}], {ok, T} = erl_tar:open(${erlList(out)}, [write]), ${adds}, ok = erl_tar:close(T), halt().`;
    execFileSync("erl", ["-noshell", "-eval", script], { stdio: "inherit" });
    const theirs = readFileSync(out);
    const ours = writeTar(entries.map(({ disk: _disk, ...e }) => e));
    // Block by block, so a difference points at the entry.
    const blocks = (b: Buffer) => Array.from({ length: b.length / 512 }, (_, i) => b.subarray(i * 512, i * 512 + 512).toString("latin1"));
    assert.deepEqual(blocks(ours), blocks(theirs));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("readTar refuses damaged archives", () => {
  const good = writeTar([
    { name: "a.txt", mode: 0o644, data: Buffer.from("a") },
    { name: "b.txt", mode: 0o644, data: Buffer.from("b") },
  ]);
  const badSum = Buffer.from(good);
  badSum[1024 + 10] = 0x41; // inside the second header's name
  throwsBeamix(() => readTar(badSum, { label: "t.tar" }), /^t\.tar: bad header checksum: stored \d+, computed \d+ \(tar header at offset 1024\)$/);
  throwsBeamix(() => readTar(good.subarray(0, 1024 + 512), { label: "t.tar" }), "t.tar: data of 1 bytes runs past the end of the archive (tar header at offset 1024)");
  throwsBeamix(() => readTar(good.subarray(0, 2048), { label: "t.tar" }), "t.tar: missing end-of-archive block (tar header at offset 2048)");
  throwsBeamix(() => readTar(good.subarray(0, 2048 + 100), { label: "t.tar" }), "t.tar: truncated header (tar header at offset 2048)");
  throwsBeamix(() => readTar(Buffer.concat([good, Buffer.from("x")]), { label: "t.tar" }), "t.tar: data after the end-of-archive block (tar header at offset 2048)");
  assert.equal(readTar(Buffer.concat([good, Buffer.alloc(8192)])).length, 2, "record padding of zeros is fine");
  const notUstar = encodeTarHeader({ name: "x", mode: 0o644, size: 0, typeflag: "0", magic: "abcde\0" });
  throwsBeamix(() => readTar(Buffer.concat([notUstar, Buffer.alloc(1024)]), { label: "t.tar" }), /not a ustar header/);
  const latin1 = encodeTarHeader({ name: Buffer.from([0x63, 0x61, 0x66, 0xe9]), mode: 0o644, size: 0, typeflag: "0" });
  throwsBeamix(() => readTar(Buffer.concat([latin1, Buffer.alloc(1024)]), { label: "t.tar" }), "t.tar: entry name is not valid UTF-8 (tar header at offset 0)");
  // A malformed size field with a correct header checksum.
  const fixed = encodeTarHeader({ name: "a.txt", mode: 0o644, size: 1, typeflag: "0" });
  fixed.write("0000000009\0", 124, "latin1");
  const sum = [...fixed].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 32 : b), 0);
  fixed.write(sum.toString(8).padStart(7, "0") + "\0", 148, "latin1");
  throwsBeamix(() => readTar(Buffer.concat([fixed, Buffer.alloc(1536)]), { label: "t.tar" }), /^t\.tar: size is not an octal number/);
});

test("readTar reads global PAX headers, GNU long names and old typeflags", () => {
  const long = "l".repeat(150) + "/x";
  const gnuHeader = (typeflag: string, size: number) => encodeTarHeader({ name: "././@LongLink", mode: 0o644, size, typeflag, magic: "ustar ", version: " \0" });
  const data = Buffer.from(long + "\0");
  const global = Buffer.from("54 comment=a global PAX header, as git archive writes\n");
  assert.equal(global.length, 54);
  const tar = Buffer.concat([
    encodeTarHeader({ name: "pax_global_header", mode: 0o666, size: global.length, typeflag: "g" }),
    global,
    Buffer.alloc(512 - global.length),
    gnuHeader("L", data.length),
    data,
    Buffer.alloc(512 - data.length),
    encodeTarHeader({ name: "ignored", mode: 0o755, size: 0, typeflag: "0", magic: "ustar ", version: " \0" }),
    encodeTarHeader({ name: "dev", mode: 0o644, size: 0, typeflag: "3" }),
    encodeTarHeader({ name: "old/", mode: 0o755, size: 0, typeflag: "\0" }),
    Buffer.alloc(1024),
  ]);
  assert.deepEqual(
    readTar(tar).map((e) => [e.name, e.type, e.typeflag, e.mode]),
    [
      [long, "file", "0", 0o755],
      ["dev", "other", "3", 0o644],
      ["old", "directory", "\0", 0o755],
    ],
  );
});

// ---- metadata.config ----

const ALL_METADATA = VECTORS.map((v) => ({ id: v.id, text: vectorMetadataText(v) }));

test("every vector metadata.config parses and prints back byte-identical", () => {
  for (const { id, text } of ALL_METADATA) assert.equal(formatMetadataConfig(parseMetadataConfig(text, id)), text, id);
});

test("metadata.config decodes to the typed metadata", () => {
  const m = parseMetadataConfig(vectorMetadataText(VECTORS[1]), "vec_core");
  assert.deepEqual(m, {
    name: "vec_core",
    version: "0.3.0",
    app: "vec_core",
    description:
      "Tiny Elixir library used as a Hex test vector: depends on a rebar3 package and has an optional dependency, and reads compile-time configuration.",
    elixir: "~> 1.14",
    files: ["lib", "lib/vec_core", "lib/vec_core/mode.ex", "lib/vec_core.ex", ".formatter.exs", "mix.exs", "README.md", "CHANGELOG.md"],
    licenses: ["Apache-2.0"],
    buildTools: ["mix"],
    requirements: [
      { name: "vec_erl", app: "vec_erl", requirement: "~> 1.0", optional: false, repository: "vectors" },
      { name: "vec_opt", app: "vec_opt", requirement: "~> 0.1", optional: true, repository: "vectors" },
    ],
    links: [
      ["Changelog", "https://example.invalid/vec_core/CHANGELOG.md"],
      ["Source", "https://example.invalid/vec_core"],
    ],
    other: [],
  } satisfies HexMetadata);
  const alias = parseMetadataConfig(vectorMetadataText(VECTORS[0]));
  assert.equal(alias.name, "vec_alias");
  assert.equal(alias.app, "vec_aliased");
});

test("the older requirements shape, keys in any order, unknown keys kept", () => {
  const text = [
    `{<<"version">>,<<"1.2.3">>}.`,
    `{<<"requirements">>,[{<<"plug">>,[{<<"optional">>,true},{<<"requirement">>,<<"~> 1.0">>},{<<"app">>,<<"plug_app">>}]},`,
    `                     {<<"jason">>,[{<<"requirement">>,<<">= 0.0.0">>},{<<"app">>,<<"jason">>},{<<"optional">>,false},{<<"repository">>,<<"other">>}]}]}.`,
    `{<<"name">>,<<"demo">>}.`,
    `{<<"maintainers">>,[<<"Someone">>]}.`,
    `{<<"app">>,<<"demo">>}.`,
    `{<<"extra">>,[{<<"foo">>,42}]}.`,
    `{<<"links">>,[{<<"GitHub">>,<<"https://example.invalid/demo">>}]}.`,
    `{<<"files">>,[<<"lib/demo.ex">>]}.`,
    `{<<"description">>,"a charlist"}.`,
  ].join("\n");
  const m = parseMetadataConfig(text, "demo.config");
  assert.deepEqual(m.requirements, [
    { name: "plug", app: "plug_app", requirement: "~> 1.0", optional: true, repository: "hexpm" },
    { name: "jason", app: "jason", requirement: ">= 0.0.0", optional: false, repository: "other" },
  ]);
  assert.equal(m.description, "a charlist");
  assert.deepEqual(m.licenses, []);
  assert.deepEqual(
    m.other.map(([k]) => k),
    ["maintainers", "extra"],
  );
  const printed = formatMetadataConfig(m);
  const keys = parseTerms(printed).map((t) => (t.type === "tuple" && t.items[0].type === "binary" ? t.items[0].value.toString() : "?"));
  assert.deepEqual(keys, ["app", "build_tools", "description", "extra", "files", "licenses", "links", "maintainers", "name", "requirements", "version"]);
  assert.ok(printed.includes(`{<<"extra">>,[{<<"foo">>,42}]}.`));
  // Requirements come out in the kvlist shape, keys in Hex's order.
  assert.ok(
    printed.includes(
      `[[{<<"app">>,<<"plug_app">>},\n   {<<"name">>,<<"plug">>},\n   {<<"optional">>,true},\n   {<<"repository">>,<<"hexpm">>},\n   {<<"requirement">>,<<"~> 1.0">>}],`,
    ),
    printed,
  );
  // Reading the printed text back gives the same metadata, with `other` now in key order.
  assert.deepEqual(parseMetadataConfig(printed), { ...m, other: [m.other[1], m.other[0]] });
});

// The value of {<<"key">>, Value} among metadata terms.
function valueOf(terms: Term[], key: string): Term | undefined {
  for (const t of terms) {
    if (t.type === "tuple" && t.items[0].type === "binary" && t.items[0].value.toString() === key) return t.items[1];
  }
  return undefined;
}

test("metadataToTerms: links [] when empty, tuples otherwise; requirement key order", () => {
  const m: HexMetadata = {
    name: "p",
    version: "1.0.0",
    app: "p",
    files: [],
    licenses: [],
    buildTools: ["mix"],
    requirements: [{ name: "q", app: "q_app", requirement: "~> 2.0", optional: true, repository: "hexpm" }],
    links: [],
    other: [],
  };
  const get = (key: string) => valueOf(metadataToTerms(m), key);
  assert.deepEqual(get("links"), list([]));
  assert.deepEqual(
    get("requirements"),
    list([
      list([
        tuple([bin("app"), bin("q_app")]),
        tuple([bin("name"), bin("q")]),
        tuple([bin("optional"), atom("true")]),
        tuple([bin("repository"), bin("hexpm")]),
        tuple([bin("requirement"), bin("~> 2.0")]),
      ]),
    ]),
  );
  assert.equal(get("description"), undefined);
  assert.equal(get("elixir"), undefined);
  m.links = [["Docs", "https://example.invalid"]];
  assert.deepEqual(get("links"), list([tuple([bin("Docs"), bin("https://example.invalid")])]));
});

test("metadata.config errors name the file and the problem", () => {
  throwsBeamix(() => parseMetadataConfig(`{<<"version">>,<<"1.0.0">>}.\n`, "m.config"), "m.config: no name");
  throwsBeamix(() => parseMetadataConfig(`{<<"name">>,<<"a">>}.\n{<<"name">>,<<"b">>}.\n`, "m.config"), "m.config: key name appears twice");
  throwsBeamix(() => parseMetadataConfig(`{<<"name">>,<<"a">>}.\n{<<"version">>,1}.\n`, "m.config"), "m.config: version must be a string");
  throwsBeamix(() => parseMetadataConfig(`{<<"name">>,<<"a">>}.\n{<<"version">>,<<"1.0.0">>}.\n{<<"files">>,<<"lib">>}.\n`, "m.config"), "m.config: files must be a list");
  throwsBeamix(
    () => parseMetadataConfig(`{<<"name">>,<<"a">>}.\n{<<"version">>,<<"1.0.0">>}.\n{<<"requirements">>,[[{<<"name">>,<<"b">>}]]}.\n`, "m.config"),
    "m.config: requirement b has no requirement",
  );
  throwsBeamix(
    () =>
      parseMetadataConfig(
        `{<<"name">>,<<"a">>}.\n{<<"version">>,<<"1.0.0">>}.\n{<<"requirements">>,[[{<<"name">>,<<"b">>},{<<"requirement">>,<<"1">>},{<<"optional">>,maybe}]]}.\n`,
        "m.config",
      ),
    "m.config: optional of requirement b must be true or false",
  );
  throwsBeamix(() => metadataFromTerms([atom("x")], "m.config"), "m.config: every term must be a {Key, Value} tuple");
});

// ---- the whole tarball ----

test("buildTarball rebuilds every vector tarball byte for byte", () => {
  for (const v of VECTORS) {
    const metadata = parseMetadataConfig(vectorMetadataText(v), v.id);
    const built = buildTarball({ metadata, files: vectorFiles(v) });
    assert.equal(built.outerChecksum, v.outer, `${v.id}: outer checksum`);
    assert.equal(built.innerChecksum, v.inner, `${v.id}: inner checksum`);
    assert.equal(built.tarball.length, v.size);
    assert.ok(built.tarball.equals(vectorTar(v)), `${v.id}: bytes`);
    assert.equal(members(built.tarball).get("CHECKSUM")!.toString(), v.inner.toUpperCase());
  }
});

test("buildTarball refuses unsafe or repeated paths", () => {
  const metadata = parseMetadataConfig(vectorMetadataText(VECTORS[4]));
  for (const path of ["/etc/passwd", "../x", "lib//x", "lib/./x", ""]) {
    throwsBeamix(() => buildTarball({ metadata, files: [{ path, mode: 0o644, data: Buffer.alloc(1) }] }), /not a plain relative path/);
  }
  const f = { path: "lib/a.ex", mode: 0o644, data: Buffer.alloc(1) };
  throwsBeamix(() => buildTarball({ metadata, files: [f, f] }), "vec_opt-0.1.0: lib/a.ex is listed twice");
});

test("readTarball verifies and decodes every vector", () => {
  for (const v of VECTORS) {
    const r = readTarball(vectorTar(v), { file: `${v.id}.tar`, expectedOuterChecksum: v.outer.toUpperCase() });
    assert.equal(r.outerChecksum, v.outer);
    assert.equal(r.innerChecksum, v.inner);
    assert.equal(r.metadataText, vectorMetadataText(v));
    assert.deepEqual(r.metadata, parseMetadataConfig(vectorMetadataText(v)));
    assert.equal(sha256(zlib.gunzipSync(r.contentsGz)), layout(v).contents_tar_gz.uncompressed_sha256);
  }
});

// An outer tarball from explicit members, for the failure cases.
function outerTar(parts: [string, Buffer | string][]): Buffer {
  return writeTar(parts.map(([name, data]) => ({ name, mode: 0o644, data: Buffer.from(data) })));
}
const CORE = VECTORS[1];
const coreMembers = () => members(vectorTar(CORE));
function innerOf(metadata: Buffer, contents: Buffer) {
  return sha256(Buffer.concat([Buffer.from("3"), metadata, contents])).toUpperCase();
}

test("readTarball: outer checksum mismatch names both checksums", () => {
  const wrong = "ab12" + "0".repeat(60);
  throwsBeamix(
    () => readTarball(vectorTar(CORE), { file: "vec_core-0.3.0.tar", expectedOuterChecksum: wrong }),
    `vec_core-0.3.0.tar: outer checksum mismatch: expected ${wrong}, got ${CORE.outer}`,
  );
  throwsBeamix(() => readTarball(vectorTar(CORE), { file: "v.tar", expectedOuterChecksum: "xyz" }), `v.tar: expected outer checksum "xyz" is not 64 hex digits`);
});

test("readTarball refuses a tampered or malformed tarball", () => {
  const m = coreMembers();
  const meta = m.get("metadata.config")!;
  const contents = m.get("contents.tar.gz")!;
  const checksum = m.get("CHECKSUM")!.toString();
  const base: [string, Buffer | string][] = [
    ["VERSION", "3"],
    ["CHECKSUM", checksum],
    ["metadata.config", meta],
    ["contents.tar.gz", contents],
  ];
  const f = "vec_core-0.3.0.tar";
  assert.equal(readTarball(outerTar(base), { file: f }).innerChecksum, CORE.inner);

  const tamperedContents = Buffer.from(contents);
  tamperedContents[20] ^= 1;
  throwsBeamix(
    () => readTarball(outerTar([base[0], base[1], base[2], ["contents.tar.gz", tamperedContents]]), { file: f }),
    `${f}: inner checksum mismatch: CHECKSUM says ${CORE.inner}, contents give ${sha256(Buffer.concat([Buffer.from("3"), meta, tamperedContents]))}`,
  );
  const tamperedMeta = Buffer.from(meta.toString().replace("~> 1.0", "~> 9.0"));
  throwsBeamix(() => readTarball(outerTar([base[0], base[1], ["metadata.config", tamperedMeta], base[3]]), { file: f }), /^vec_core-0\.3\.0\.tar: inner checksum mismatch/);
  throwsBeamix(() => readTarball(outerTar([base[0], ["CHECKSUM", checksum.slice(1)], base[2], base[3]]), { file: f }), /^vec_core-0\.3\.0\.tar: CHECKSUM is not 64 hex digits/);
  throwsBeamix(() => readTarball(outerTar([["VERSION", "2"], ...base.slice(1)]), { file: f }), `${f}: unsupported tarball version "2" (only 3 is supported)`);
  throwsBeamix(() => readTarball(outerTar([...base, ["extra.txt", "x"]]), { file: f }), `${f}: unexpected member "extra.txt"`);
  throwsBeamix(() => readTarball(outerTar([...base, ["VERSION", "3"]]), { file: f }), `${f}: member VERSION appears twice`);
  throwsBeamix(() => readTarball(outerTar(base.slice(0, 3)), { file: f }), `${f}: member contents.tar.gz is missing`);
  const withDir = writeTar([
    ...base.map(([name, data]) => ({ name, mode: 0o644, data: Buffer.from(data) })),
    { name: "metadata.config", mode: 0o755, type: "directory" as const },
  ]);
  throwsBeamix(() => readTarball(withDir, { file: f }), `${f}: member metadata.config appears twice`);
  const symlinkMember = writeTar([
    ...base.slice(0, 3).map(([name, data]) => ({ name, mode: 0o644, data: Buffer.from(data) })),
    { name: "contents.tar.gz", mode: 0o777, type: "symlink" as const, linkname: "/etc/passwd" },
  ]);
  throwsBeamix(() => readTarball(symlinkMember, { file: f }), `${f}: member contents.tar.gz is not a regular file`);
  const corrupt = Buffer.from(vectorTar(CORE));
  corrupt[0] ^= 1;
  throwsBeamix(() => readTarball(corrupt, { file: f }), /^vec_core-0\.3\.0\.tar: bad header checksum/);
  throwsBeamix(() => readTarball(Buffer.from("hello"), { file: f }), `${f}: truncated header (tar header at offset 0)`);

  // Metadata that parses but is not metadata: the checksums are right, the content is wrong.
  const noName = Buffer.from(`{<<"version">>,<<"1.0.0">>}.\n`);
  throwsBeamix(
    () => readTarball(outerTar([base[0], ["CHECKSUM", innerOf(noName, contents)], ["metadata.config", noName], base[3]]), { file: f }),
    `${f}: metadata.config: no name`,
  );
  const garbage = Buffer.from(`{<<"name">>,`);
  throwsBeamix(
    () => readTarball(outerTar([base[0], ["CHECKSUM", innerOf(garbage, contents)], ["metadata.config", garbage], base[3]]), { file: f }),
    /^vec_core-0\.3\.0\.tar: metadata\.config:1:\d+: /,
  );
});

test("readTarball enforces the tarball and metadata size limits", () => {
  throwsBeamix(() => readTarball(Buffer.alloc(MAX_TARBALL_BYTES + 1), { file: "big.tar" }), `big.tar: tarball is ${MAX_TARBALL_BYTES + 1} bytes, more than the limit of ${MAX_TARBALL_BYTES}`);
  const contents = coreMembers().get("contents.tar.gz")!;
  const meta = Buffer.alloc(MAX_METADATA_BYTES + 1, " ");
  throwsBeamix(
    () => readTarball(outerTar([["VERSION", "3"], ["CHECKSUM", innerOf(meta, contents)], ["metadata.config", meta], ["contents.tar.gz", contents]]), { file: "m.tar" }),
    `m.tar: metadata.config is ${MAX_METADATA_BYTES + 1} bytes, more than the limit of ${MAX_METADATA_BYTES}`,
  );
});

test("readTarball accepts Latin-1 metadata from old clients", () => {
  const contents = coreMembers().get("contents.tar.gz")!;
  const meta = Buffer.concat([
    Buffer.from(`{<<"name">>,<<"old">>}.\n{<<"version">>,<<"0.1.0">>}.\n{<<"description">>,<<"caf`),
    Buffer.from([0xe9]),
    Buffer.from(`">>}.\n`),
  ]);
  const r = readTarball(outerTar([["VERSION", "3"], ["CHECKSUM", innerOf(meta, contents)], ["metadata.config", meta], ["contents.tar.gz", contents]]));
  assert.equal(r.metadata.description, "café");
});

// keep the helper list honest: every file of a vector directory is covered above
test("every vector tarball file is listed in its checksums.txt", () => {
  for (const dir of ["tarballs", "tarball-variants"]) {
    const tars = readdirSync(join(VEC, dir)).filter((f) => f.endsWith(".tar")).sort();
    assert.deepEqual(tars, VECTORS.filter((v) => v.dir === dir).map((v) => `${v.id}.tar`).sort());
  }
});
