// Unpacking Hex tarballs: the vectors unpack to their sources, and every malformed or
// hostile tarball is refused with its own error, leaving the destination and its parent
// exactly as they were.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { BeamixError } from "../src/errors.ts";
import { gzipHexTarball } from "../src/hex/gzip.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";
import { formatMetadataConfig, parseMetadataConfig } from "../src/hex/metadata-terms.ts";
import { encodeTarHeader, writeTar, type TarWriteEntry } from "../src/hex/tar.ts";
import { readContents, unpackTarball } from "../src/hex/unpack.ts";
import { MAX_UNPACKED_BYTES } from "../src/hex/tarball.ts";

const VEC = join(import.meta.dirname, "vectors/hex");

const METADATA: HexMetadata = {
  name: "evil",
  version: "0.0.1",
  app: "evil",
  files: [],
  licenses: [],
  buildTools: ["mix"],
  requirements: [],
  links: [],
  other: [],
};

// A well-formed outer tarball around any contents.tar.gz: right checksums, so whatever is
// refused is refused for the contents.
function tarballAround(contentsGz: Buffer): Buffer {
  const meta = Buffer.from(formatMetadataConfig(METADATA));
  const inner = createHash("sha256").update("3").update(meta).update(contentsGz).digest("hex").toUpperCase();
  return writeTar([
    { name: "VERSION", mode: 0o644, data: Buffer.from("3") },
    { name: "CHECKSUM", mode: 0o644, data: Buffer.from(inner) },
    { name: "metadata.config", mode: 0o644, data: meta },
    { name: "contents.tar.gz", mode: 0o644, data: contentsGz },
  ]);
}
const tarballOf = (entries: TarWriteEntry[]) => tarballAround(gzipHexTarball(writeTar(entries)));
const tarballOfRaw = (...blocks: Buffer[]) => tarballAround(gzipHexTarball(Buffer.concat([...blocks, Buffer.alloc(1024)])));
const file = (name: string, data = name, mode = 0o644): TarWriteEntry => ({ name, mode, data: Buffer.from(data) });

// Every path under dir with its type, mode and content hash.
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      const r = rel ? `${rel}/${name}` : name;
      if (st.isDirectory()) {
        out.push(`${r}/ ${(st.mode & 0o7777).toString(8)}`);
        await walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${await readlink(p)}`);
      else out.push(`${r} ${(st.mode & 0o7777).toString(8)} ${createHash("sha256").update(await readFile(p)).digest("hex")}`);
    }
  };
  await walk(dir, "");
  return out;
}

// A scratch tree: root/keep.txt, and a destination a few levels down so that ".." tricks
// would still land inside root where the snapshot sees them.
async function scratch() {
  const root = await mkdtemp(join(tmpdir(), "beamix-unpack-"));
  await writeFile(join(root, "keep.txt"), "keep");
  await mkdir(join(root, "x/y/z"), { recursive: true });
  return { root, dest: join(root, "x/y/z/out"), done: () => rm(root, { recursive: true, force: true }) };
}

// Unpacking must fail with exactly `message`, and leave root exactly as it was.
async function refuses(tarball: Buffer, message: string | RegExp, opts: { maxUnpackedBytes?: number; dest?: string } = {}) {
  const s = await scratch();
  try {
    const dest = opts.dest ? join(s.root, opts.dest) : s.dest;
    const before = await snapshot(s.root);
    await assert.rejects(unpackTarball(tarball, dest, { file: "bad.tar", maxUnpackedBytes: opts.maxUnpackedBytes }), (err: unknown) => {
      assert.ok(err instanceof BeamixError, `expected a BeamixError, got ${err}`);
      if (typeof message === "string") assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });
    assert.deepEqual(await snapshot(s.root), before);
  } finally {
    await s.done();
  }
}

const PREFIX = "bad.tar: contents.tar.gz: ";

test("every vector tarball unpacks to its sources", async () => {
  const s = await scratch();
  try {
    for (const [dir, id, source] of [
      ["tarballs", "vec_core-0.3.0", "vec_core"],
      ["tarballs", "vec_erl-1.1.0", "vec_erl-1.1.0"],
      ["tarballs", "vec_alias-0.2.0", "vec_alias"],
      ["tarball-variants", "vec_opt-0.1.0.mode0755", "vec_opt"],
      ["tarball-variants", "vec_opt-0.1.0.umask077", "vec_opt"],
    ]) {
      const dest = join(s.root, id);
      const tar = readFileSync(join(VEC, dir, `${id}.tar`));
      const r = await unpackTarball(tar, dest, { file: `${id}.tar` });
      const expected = parseMetadataConfig(readFileSync(join(VEC, dir, "decoded", `${id}.metadata.config`), "utf8"));
      assert.deepEqual(r.metadata, expected);
      const regular = expected.files.filter((f) => !expected.files.some((g) => g.startsWith(f + "/")));
      // Hex writes entries for files only; their directories come implicitly.
      assert.deepEqual([...r.files].sort(), [...regular].sort());
      for (const f of regular) {
        assert.ok((await readFile(join(dest, f))).equals(readFileSync(join(VEC, "sources", source, f))), `${id}: ${f}`);
        const mode = (await stat(join(dest, f))).mode & 0o7777;
        assert.equal(mode, id.endsWith("mode0755") && f === "lib/vec_opt.ex" ? 0o755 : 0o644, `${id}: mode of ${f}`);
      }
      for (const d of ["", ...expected.files.filter((f) => !regular.includes(f))]) {
        assert.equal((await lstat(join(dest, d))).mode & 0o170777, 0o040755, `${id}: directory ${d || "."}`);
      }
    }
    const leftovers = (await readdir(s.root)).filter((n) => n.startsWith("."));
    assert.deepEqual(leftovers, [], "no temporary directories left behind");
  } finally {
    await s.done();
  }
});

test("the expected outer checksum is checked before anything is written", async () => {
  const tar = readFileSync(join(VEC, "tarballs/vec_opt-0.1.0.tar"));
  const s = await scratch();
  try {
    await assert.rejects(unpackTarball(tar, s.dest, { file: "vec_opt-0.1.0.tar", expectedOuterChecksum: "0".repeat(64) }), {
      message: `vec_opt-0.1.0.tar: outer checksum mismatch: expected ${"0".repeat(64)}, got 9dfabb6f8252e57026dc538a89c4f1dfcce733ba6317eeb7f589cfb4d21696fe`,
    });
    const r = await unpackTarball(tar, s.dest, { expectedOuterChecksum: "9dfabb6f8252e57026dc538a89c4f1dfcce733ba6317eeb7f589cfb4d21696fe" });
    assert.equal(r.metadata.name, "vec_opt");
  } finally {
    await s.done();
  }
});

test("links inside the package, directories, modes and long names", async () => {
  const s = await scratch();
  const umask = process.umask(0o077); // modes must not depend on the umask
  try {
    const long = "priv/" + "deep/".repeat(40) + "file.txt";
    const tar = tarballOf([
      { name: "./", mode: 0o755, type: "directory" },
      file("lib/app.js", "app"),
      file("bin/run", "#!/bin/sh\n", 0o700),
      file("bin/setuid", "x", 0o4755),
      file("priv/secret", "s", 0o600),
      { name: "priv/static", mode: 0o700, type: "directory" },
      { name: "priv/static/app.js", mode: 0o777, type: "symlink", linkname: "../../lib/app.js" },
      { name: "priv/current", mode: 0o777, type: "symlink", linkname: "static" },
      { name: "priv/self", mode: 0o777, type: "symlink", linkname: "." },
      { name: "priv/dangling", mode: 0o777, type: "symlink", linkname: "not/there" },
      { name: "lib/copy.js", mode: 0o644, type: "hardlink", linkname: "./lib/app.js" },
      { name: "empty", mode: 0o755, type: "directory" },
      file(long, "deep"),
      file("héllo/wörld.txt", "ü"),
    ]);
    const r = await unpackTarball(tar, s.dest);
    assert.deepEqual(r.files, [
      "lib/app.js",
      "bin/run",
      "bin/setuid",
      "priv/secret",
      "priv/static",
      "priv/static/app.js",
      "priv/current",
      "priv/self",
      "priv/dangling",
      "lib/copy.js",
      "empty",
      long,
      "héllo/wörld.txt",
    ]);
    const snap = await snapshot(s.dest);
    assert.deepEqual(
      snap.filter((l) => !l.startsWith("priv/deep")),
      [
        "bin/ 755",
        `bin/run 755 ${sha("#!/bin/sh\n")}`,
        `bin/setuid 755 ${sha("x")}`,
        "empty/ 755",
        "héllo/ 755",
        `héllo/wörld.txt 644 ${sha("ü")}`,
        "lib/ 755",
        `lib/app.js 644 ${sha("app")}`,
        `lib/copy.js 644 ${sha("app")}`,
        "priv/ 755",
        "priv/current -> static",
        "priv/dangling -> not/there",
        `priv/secret 644 ${sha("s")}`,
        "priv/self -> .",
        "priv/static/ 755",
        "priv/static/app.js -> ../../lib/app.js",
      ],
    );
    assert.equal(await readFile(join(s.dest, "priv/static/app.js"), "utf8"), "app");
    assert.equal(await readFile(join(s.dest, long), "utf8"), "deep");
    assert.ok(!(await lstat(join(s.dest, "lib/copy.js"))).isSymbolicLink());
    assert.equal((await stat(join(s.dest, "lib/copy.js"))).nlink, 1, "hard links are written as copies");
  } finally {
    process.umask(umask);
    await s.done();
  }
});

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

test("an existing empty destination is used; a non-empty one or a file is refused", async () => {
  const s = await scratch();
  try {
    const tar = tarballOf([file("a.txt")]);
    await mkdir(s.dest);
    await unpackTarball(tar, s.dest);
    assert.equal(await readFile(join(s.dest, "a.txt"), "utf8"), "a.txt");
    await assert.rejects(unpackTarball(tar, s.dest), { message: `${s.dest}: directory is not empty` });
    await writeFile(join(s.root, "plain"), "x");
    await assert.rejects(unpackTarball(tar, join(s.root, "plain")), { message: `${join(s.root, "plain")}: exists and is not a directory` });
    // Missing parents are created.
    await unpackTarball(tar, join(s.root, "new/deeper/out"));
    assert.equal(await readFile(join(s.root, "new/deeper/out/a.txt"), "utf8"), "a.txt");
  } finally {
    await s.done();
  }
});

test("refused: absolute paths and .. components", async () => {
  await refuses(tarballOf([file("ok.txt"), file("/etc/evil")]), `${PREFIX}entry "/etc/evil": absolute path`);
  await refuses(tarballOf([file("../evil")]), `${PREFIX}entry "../evil": path contains ".."`);
  await refuses(tarballOf([file("lib/../../evil")]), `${PREFIX}entry "lib/../../evil": path contains ".."`);
  await refuses(tarballOf([file("lib/../inside")]), `${PREFIX}entry "lib/../inside": path contains ".."`);
  // The same through a PAX path record, which overrides the header's harmless name.
  await refuses(tarballOf([file("a/".repeat(60) + "../../../evil")]), /^bad\.tar: contents\.tar\.gz: entry "(a\/)+\.\.\/\.\.\/\.\.\/evil": path contains "\.\."$/);
});

test("refused: symlinks that lead outside the package", async () => {
  const link = (name: string, linkname: string): TarWriteEntry => ({ name, mode: 0o777, type: "symlink", linkname });
  await refuses(tarballOf([link("lib/link", "../../evil")]), `${PREFIX}symlink "lib/link" -> "../../evil": points outside the package`);
  await refuses(tarballOf([link("lib/link", "/etc/passwd")]), `${PREFIX}symlink "lib/link" -> "/etc/passwd": absolute target`);
  await refuses(tarballOf([link("up", "..")]), `${PREFIX}symlink "up" -> "..": points outside the package`);
  // Each link alone stays inside; followed through each other they climb out.
  await refuses(
    tarballOf([link("a/b/y", "../../t"), link("a/b/x", "y/../..")]),
    `${PREFIX}symlink "a/b/x" -> "y/../..": points outside the package`,
  );
  await refuses(tarballOf([link("a", "b"), link("b", "a")]), /^bad\.tar: contents\.tar\.gz: symlink "(a|b)" -> "(a|b)": too many levels of symbolic links$/);
  // Writing through a link, even one that points inside, is refused.
  await refuses(tarballOf([link("d", "sub"), file("d/evil")]), `${PREFIX}entry "d/evil": its parent d is a symlink`);
  await refuses(tarballOf([file("f"), file("f/x")]), `${PREFIX}entry "f/x": its parent f is a file`);
});

test("refused: hard links anywhere but to an earlier file", async () => {
  const hard = (name: string, linkname: string): TarWriteEntry => ({ name, mode: 0o644, type: "hardlink", linkname });
  await refuses(tarballOf([hard("h", "../outside")]), `${PREFIX}hard link "h" -> "../outside": path contains ".."`);
  await refuses(tarballOf([hard("h", "/etc/passwd")]), `${PREFIX}hard link "h" -> "/etc/passwd": absolute path`);
  await refuses(tarballOf([hard("h", "later"), file("later")]), `${PREFIX}hard link "h" -> "later": target is not an earlier regular file of the archive`);
  await refuses(
    tarballOf([{ name: "d", mode: 0o755, type: "directory" }, hard("h", "d")]),
    `${PREFIX}hard link "h" -> "d": target is not an earlier regular file of the archive`,
  );
});

test("refused: devices, FIFOs and unknown entry types", async () => {
  for (const [flag, what] of [
    ["3", "character device"],
    ["4", "block device"],
    ["6", "FIFO"],
    ["7", "contiguous file"],
    ["S", '"S"'],
  ]) {
    await refuses(tarballOfRaw(encodeTarHeader({ name: "dev", mode: 0o600, size: 0, typeflag: flag, devmajor: 1, devminor: 3 })), `${PREFIX}entry "dev": unsupported entry type ${what}`);
  }
});

test("refused: duplicate entries", async () => {
  await refuses(tarballOf([file("lib/a.ex"), file("lib/a.ex", "again")]), `${PREFIX}entry "lib/a.ex": duplicate entry for lib/a.ex`);
  await refuses(tarballOf([file("lib/a.ex"), file("./lib//a.ex", "again")]), `${PREFIX}entry "./lib//a.ex": duplicate entry for lib/a.ex`);
  await refuses(
    tarballOf([{ name: "lib", mode: 0o755, type: "directory" }, { name: "lib/", mode: 0o755, type: "directory" }]),
    `${PREFIX}entry "lib": duplicate entry for lib`,
  );
});

test("refused: names that are not UTF-8", async () => {
  const latin1 = Buffer.from("caf\xe9.txt", "latin1");
  await refuses(
    tarballOfRaw(encodeTarHeader({ name: latin1, mode: 0o644, size: 0, typeflag: "0" })),
    `${PREFIX}entry name is not valid UTF-8 (tar header at offset 0)`,
  );
  await refuses(
    tarballOfRaw(encodeTarHeader({ name: "ok", mode: 0o755, size: 0, typeflag: "2", linkname: Buffer.from([0xff, 0xfe]) })),
    `${PREFIX}link name is not valid UTF-8 (tar header at offset 0)`,
  );
});

test("refused: contents beyond the unpacked-size limit, counted over hard-link copies too", async () => {
  const big = file("big", "x".repeat(4000));
  const links = Array.from({ length: 10 }, (_, i): TarWriteEntry => ({ name: `h${i}`, mode: 0o644, type: "hardlink", linkname: "big" }));
  const tar = tarballOf([big, ...links]);
  // The tar itself (10752 bytes) is under the limit; the files it makes (44000 bytes) are not.
  await refuses(tar, `${PREFIX}entry "h4": unpacked contents exceed the limit of 20000 bytes`, { maxUnpackedBytes: 20000 });
  await refuses(tarballOf([file("a", "y".repeat(30000))]), `${PREFIX}decompresses to more than the limit of 20000 bytes`, { maxUnpackedBytes: 20000 });
});

test("refused: a gzip bomb, stopped at the default 128 MiB while inflating", async () => {
  const size = 200 * 1024 * 1024;
  const tar = Buffer.alloc(512 + size + 1024);
  encodeTarHeader({ name: "zeros", mode: 0o644, size, typeflag: "0" }).copy(tar);
  const gz = zlib.gzipSync(tar, { level: 9 });
  assert.ok(gz.length < 1024 * 1024, `bomb is ${gz.length} bytes`);
  await refuses(tarballAround(gz), `${PREFIX}decompresses to more than the limit of ${MAX_UNPACKED_BYTES} bytes`);
});

test("refused: damaged compressed contents", async () => {
  const gz = gzipHexTarball(writeTar([file("a.txt", "hello ".repeat(100))]));
  const flipped = Buffer.from(gz);
  flipped[gz.length - 8] ^= 0xff;
  await refuses(tarballAround(flipped), `${PREFIX}gzip CRC32 mismatch`);
  await refuses(tarballAround(Buffer.concat([gz, Buffer.from([0])])), `${PREFIX}1 unexpected bytes after the gzip data`);
  await refuses(tarballAround(gzipHexTarball(writeTar([file("a.txt")]).subarray(0, 1024))), `${PREFIX}missing end-of-archive block (tar header at offset 1024)`);
});

test("a failure while writing removes everything written, including created parents", async () => {
  // A 300-byte path component passes every check but no Linux filesystem takes it.
  const tar = tarballOf([file("lib/first.ex"), file("lib/" + "n".repeat(300))]);
  await refuses(tar, /^bad\.tar: cannot unpack into .*\/x\/y\/z\/new1\/new2\/out: ENAMETOOLONG/, { dest: "x/y/z/new1/new2/out" });
});

test("readContents lists what unpack would create, in archive order", () => {
  const gz = gzipHexTarball(
    writeTar([file("b.txt", "b", 0o755), { name: "d", mode: 0o755, type: "directory" }, { name: "d/l", mode: 0o777, type: "symlink", linkname: "../b.txt" }]),
  );
  assert.deepEqual(readContents(gz), [
    { path: "b.txt", type: "file", mode: 0o755, data: Buffer.from("b") },
    { path: "d", type: "directory" },
    { path: "d/l", type: "symlink", target: "../b.txt" },
  ]);
});
