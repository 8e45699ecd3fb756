import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BeamixError } from "../src/errors.ts";
import { hashTree, restoreTree, writeTree } from "../src/store/nar.ts";

// The format, spelled out independently of the implementation.
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const str = (s: string | Buffer) => {
  const b = typeof s === "string" ? Buffer.from(s) : s;
  return Buffer.concat([u64(b.length), b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
};
const file = (contents: string | Buffer, exec = false) => Buffer.concat([str("regular"), u64(exec ? 1 : 0), str(contents)]);
const link = (target: string) => Buffer.concat([str("symlink"), str(target)]);
const dir = (...entries: Array<[string | Buffer, Buffer]>) =>
  Buffer.concat([str("directory"), u64(entries.length), ...entries.flatMap(([n, node]) => [str(n), node])]);
const archive = (node: Buffer) => Buffer.concat([str("beamix-tree-1"), node]);

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "beamix-nar-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function serialize(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await writeTree(path, (c) => void chunks.push(c));
  return Buffer.concat(chunks);
}

async function* chunked(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

// A description of a tree for comparisons: type, exec bit, contents, link targets.
async function describe(path: string): Promise<unknown> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return { link: await readlink(path) };
  if (st.isFile()) return { exec: (st.mode & 0o100) !== 0, sha: createHash("sha256").update(await readFile(path)).digest("hex") };
  const out: Record<string, unknown> = {};
  for (const name of (await readdir(path)).sort()) out[name] = await describe(join(path, name));
  return out;
}

async function sampleTree(root: string, options: { big?: boolean } = { big: true }): Promise<void> {
  await mkdir(join(root, "lib", "erlang", "lib", "app-1.0.0", "ebin"), { recursive: true });
  await mkdir(join(root, "empty"));
  await writeFile(join(root, "lib", "erlang", "lib", "app-1.0.0", "ebin", "app.app"), "{application,app,[]}.\n");
  if (options.big) await writeFile(join(root, "big.bin"), randomBytes(700_000)); // several read chunks, odd length
  await writeFile(join(root, "run"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await writeFile(join(root, "ünïcödé name"), "x");
  await writeFile(join(root, "empty-file"), "");
  await symlink("lib/erlang", join(root, "rel-link"));
  await symlink("/nonexistent/absolute/target", join(root, "dangling"));
}

test("serialization matches the documented format byte for byte", async (t) => {
  const d = await scratch(t);
  const root = join(d, "t");
  await mkdir(join(root, "c"), { recursive: true });
  await writeFile(join(root, "a"), "hi");
  await symlink("a", join(root, "b"));
  await writeFile(join(root, "c", "x"), "", { mode: 0o755 });
  await writeFile(join(root, "c", "nine-byte"), "123456789");
  const expected = archive(dir(["a", file("hi")], ["b", link("a")], ["c", dir(["nine-byte", file("123456789")], ["x", file("", true)])]));
  assert.deepEqual(await serialize(root), expected);
  const h = await hashTree(root);
  assert.equal(h.hash, createHash("sha256").update(expected).digest("hex"));
  assert.equal(h.size, expected.length);
  assert.deepEqual({ files: h.files, symlinks: h.symlinks, directories: h.directories }, { files: 3, symlinks: 1, directories: 2 });
});

test("entries are sorted by UTF-8 bytes, not by locale", async (t) => {
  const d = await scratch(t);
  const names = ["é", "a0", "B", "a.b", "a", "Z", "_"];
  for (const n of names) await writeFile(join(d, n), "");
  const sorted = ["B", "Z", "_", "a", "a.b", "a0", "é"];
  assert.deepEqual(await serialize(d), archive(dir(...sorted.map((n): [string, Buffer] => [n, file("")]))));
  assert.notDeepEqual([...names].sort((x, y) => x.localeCompare(y)), sorted);
});

test("a single file or symlink can be the top node; a top symlink is not followed", async (t) => {
  const d = await scratch(t);
  await writeFile(join(d, "f"), "data", { mode: 0o700 });
  await symlink("f", join(d, "l"));
  assert.deepEqual(await serialize(join(d, "f")), archive(file("data", true)));
  assert.deepEqual(await serialize(join(d, "l")), archive(link("f")));
});

test("the hash ignores mtimes, location and non-owner-exec mode bits", async (t) => {
  const d = await scratch(t);
  const a = join(d, "a");
  await sampleTree(a);
  const before = await hashTree(a);
  await utimes(join(a, "run"), new Date(0), new Date(0));
  await utimes(join(a, "lib"), new Date(1e12), new Date(1e12));
  const b = join(d, "elsewhere", "deeper", "b");
  await cp(a, b, { recursive: true, verbatimSymlinks: true });
  await chmod(join(b, "ünïcödé name"), 0o600);
  await chmod(join(b, "empty-file"), 0o614); // group/other exec bits are not the exec flag
  await chmod(join(b, "empty"), 0o700);
  assert.equal((await hashTree(a)).hash, before.hash);
  assert.deepEqual(await hashTree(b), before);
});

test("the hash changes with contents, exec bit, symlink target, names and empty entries", async (t) => {
  const d = await scratch(t);
  const root = join(d, "t");
  await sampleTree(root);
  const seen = new Set([(await hashTree(root)).hash]);
  const changed = async (what: string) => {
    const h = (await hashTree(root)).hash;
    assert.ok(!seen.has(h), `hash did not change after: ${what}`);
    seen.add(h);
  };
  await writeFile(join(root, "lib", "erlang", "lib", "app-1.0.0", "ebin", "app.app"), "{application,app,[x]}.\n");
  await changed("contents");
  await chmod(join(root, "run"), 0o644);
  await changed("exec bit cleared");
  await chmod(join(root, "empty-file"), 0o744);
  await changed("exec bit set");
  await rm(join(root, "rel-link"));
  await symlink("lib", join(root, "rel-link"));
  await changed("symlink target");
  await cp(join(root, "run"), join(root, "run2"));
  await rm(join(root, "run"));
  await changed("rename");
  await mkdir(join(root, "empty", "sub"));
  await changed("empty directory added");
  await writeFile(join(root, "empty", "sub", "f"), "");
  await changed("empty file added");
  await rm(join(root, "empty", "sub", "f"));
  await symlink("f", join(root, "empty", "sub", "f"));
  await changed("file replaced by a symlink");
});

test("restoring counts the files that begin with the ELF magic, small or streamed, and nothing else", async (t) => {
  const d = await scratch(t);
  const src = join(d, "src");
  await mkdir(join(src, "priv"), { recursive: true });
  const elf = (size: number) => Buffer.concat([Buffer.from("\x7fELF", "latin1"), Buffer.alloc(size - 4, 1)]);
  await writeFile(join(src, "priv", "small.so"), elf(64));
  await writeFile(join(src, "priv", "large.so"), elf((256 << 10) + 10)); // larger than a small file (256 KiB): streamed in pieces
  await writeFile(join(src, "short"), "\x7fEL", "latin1"); // too short to be one
  await writeFile(join(src, "text"), "not ELF\n");
  await symlink("priv/small.so", join(src, "link.so")); // a link is not a file
  const bytes = await serialize(src);
  for (const size of [7, 65536]) {
    const stats = await restoreTree(chunked(bytes, size), join(d, `dest-${size}`));
    assert.equal(stats.elfFiles, 2, `chunks of ${size}`);
  }
  await rm(join(src, "priv"), { recursive: true });
  await rm(join(src, "link.so"));
  assert.equal((await restoreTree(chunked(await serialize(src), 4096), join(d, "none"))).elfFiles, 0);
});

test("files that cannot be represented are refused with the path", async (t) => {
  const d = await scratch(t);
  await writeFile(join(d, "ok"), "");
  execFileSync("mkfifo", [join(d, "pipe")]);
  await assert.rejects(hashTree(d), (err: Error) => err instanceof BeamixError && err.message.includes(join(d, "pipe")));
  await rm(join(d, "pipe"));
  await writeFile(Buffer.from(join(d, "bad-\xff-name"), "latin1"), "");
  await assert.rejects(hashTree(d), (err: Error) => err instanceof BeamixError && /not valid UTF-8/.test(err.message));
});

test("restore(write(x)) reproduces x and hashes the same, however the stream is chunked", async (t) => {
  const d = await scratch(t);
  // Tiny chunks split every header; large ones split the big file's contents.
  const small = join(d, "small");
  await sampleTree(small, { big: false });
  const src = join(d, "src");
  await sampleTree(src);
  for (const [tree, sizes] of [[small, [1, 7, 8]], [src, [4095, 1 << 20]]] as const) {
    const bytes = await serialize(tree);
    const original = await describe(tree);
    const hash = (await hashTree(tree)).hash;
    for (const size of sizes) {
      // Small files written blocking or through the thread pool: the same tree.
      for (const smallFiles of ["blocking", "pooled"] as const) {
        const dest = join(d, `dest-${size}-${smallFiles}`);
        const stats = await restoreTree(chunked(bytes, size), dest, { smallFiles });
        assert.equal(stats.size, bytes.length);
        assert.deepEqual(await describe(dest), original);
        assert.equal((await hashTree(dest)).hash, hash);
      }
    }
  }
  const bytes = await serialize(src);
  const hash = (await hashTree(src)).hash;
  // Through real streams with backpressure: a file on disk in between.
  const archivePath = join(d, "tree.bin");
  const out = createWriteStream(archivePath, { highWaterMark: 1024 });
  await writeTree(src, out);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  assert.deepEqual(await readFile(archivePath), bytes);
  await restoreTree(createReadStream(archivePath), join(d, "from-file"));
  assert.equal((await hashTree(join(d, "from-file"))).hash, hash);
  const st = await lstat(join(d, "from-file", "run"));
  assert.equal(st.mode & 0o777, 0o755);
  assert.equal((await lstat(join(d, "from-file", "big.bin"))).mode & 0o777, 0o644);
});

test("restore refuses malformed and unsafe archives and leaves nothing behind", async (t) => {
  const d = await scratch(t);
  const outside = join(d, "outside");
  await mkdir(outside);
  const ok = (node: Buffer) => archive(node);
  const cases: Array<[string, Buffer, RegExp]> = [
    ["dot-dot name", ok(dir(["..", file("x")])), /unsafe entry name/],
    ["dot name", ok(dir([".", file("x")])), /unsafe entry name/],
    ["slash in name", ok(dir(["a/b", file("x")])), /unsafe entry name/],
    ["absolute name", ok(dir([outside, file("x")])), /unsafe entry name/],
    ["empty name", ok(dir(["", file("x")])), /unsafe entry name/],
    ["NUL in name", ok(dir(["a\0b", file("x")])), /unsafe entry name/],
    ["invalid UTF-8 name", ok(dir([Buffer.from([0x61, 0xff]), file("x")])), /unsafe entry name/],
    ["duplicate (symlink then directory)", ok(dir(["a", link(outside)], ["a", dir(["evil", file("x")])])), /out of order or duplicated/],
    ["unsorted", ok(dir(["b", file("")], ["a", file("")])), /out of order/],
    ["unknown node type", ok(Buffer.concat([str("fifo")])), /unknown node type/],
    ["unknown flags", ok(Buffer.concat([str("regular"), u64(2), str("x")])), /unknown file flags/],
    ["empty symlink target", ok(link("")), /invalid symlink target/],
    ["bad magic", Buffer.concat([str("beamix-tree-2"), file("x")]), /not a beamix-tree-1 archive/],
    ["trailing data", Buffer.concat([ok(file("x")), Buffer.alloc(8)]), /unexpected data after the end/],
    ["truncated", ok(dir(["a", file("hello")])).subarray(0, 100), /truncated/],
    ["huge length", Buffer.concat([str("beamix-tree-1"), u64(2 ** 40)]), /exceeds/],
  ];
  const padded = ok(file("x"));
  padded[padded.length - 1] = 1;
  cases.push(["non-zero padding", padded, /non-zero padding/]);
  for (const [what, bytes, message] of cases) {
    const dest = join(d, "dest");
    await assert.rejects(restoreTree(chunked(bytes, 5), dest), (err: Error) => err instanceof BeamixError && message.test(err.message), what);
    await assert.rejects(lstat(dest), { code: "ENOENT" }, `${what}: partial tree left behind`);
    assert.deepEqual((await readdir(d)).sort(), ["outside"], what);
    assert.deepEqual(await readdir(outside), [], what);
  }
  await mkdir(join(d, "exists"));
  await assert.rejects(restoreTree(chunked(ok(file("x")), 8), join(d, "exists")), /already exists/);
  await assert.rejects(restoreTree(chunked(ok(dir(["f", file("0123456789")])), 8), join(d, "limited"), { maxBytes: 9 }), /limit of 9 bytes/);
  await restoreTree(chunked(ok(dir(["f", file("0123456789")])), 8), join(d, "limited"), { maxBytes: 10 });
});
