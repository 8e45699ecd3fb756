// The canonical byte serialization of a file tree (in the spirit of Nix's NAR). A store item's
// identity check (its output hash) is the SHA-256 of this stream, and a binary substitute archives
// this same stream, so it must depend only on what a program can observe: names, file contents, the
// executable bit and symlink targets. No timestamps, owners, other mode bits or the tree's location.
//
// Format (version 1). Every integer is an unsigned 64-bit little-endian number, u64(n).
//   str(b)     = u64(length of b) ‖ b ‖ zero bytes up to the next multiple of 8
//   archive    = str("beamix-tree-1") ‖ node
//   node       = regular | symlink | directory
//   regular    = str("regular")   ‖ u64(flags) ‖ str(contents)      flags: 1 = executable, 0 = not
//   symlink    = str("symlink")   ‖ str(target)                      target as stored, never followed
//   directory  = str("directory") ‖ u64(count) ‖ entry × count
//   entry      = str(name) ‖ node
// Entries of a directory are sorted by name, comparing the UTF-8 bytes, strictly ascending (so no
// duplicates). A name is 1–255 bytes of valid UTF-8, is not "." or "..", and contains neither "/" nor
// NUL. A symlink target is 1–4095 bytes without NUL. A file is executable when its owner-execute bit
// is set. Padding must be zero and nothing may follow the archive. Any other file type (socket,
// FIFO, device) cannot be serialized. The reader enforces every one of these rules, so one tree has
// exactly one serialization and a restored tree re-serializes to the same bytes.
import { createHash } from "node:crypto";
import { closeSync, constants as fsc, fchmodSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, writeSync } from "node:fs";
import { chmod, lstat, mkdir, open, rm, symlink, type FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { BeamixError } from "../errors.ts";
import { isElf } from "../native/elf.ts";

export const TREE_MAGIC = "beamix-tree-1";
export const MAX_NAME_BYTES = 255;
export const MAX_TARGET_BYTES = 4095;
const MAX_DEPTH = 256;
const CHUNK = 256 * 1024;
// A store item is mostly small .beam files. Serializing, files up to this size are read whole
// with blocking calls (and directories listed so): one thread-pool round trip per call (open,
// stat, read, close) cost more than the reading. Restoring, they are written whole with blocking
// calls too while creating a file is fast (~40 µs on ext4 here, where the four round trips cost
// the main thread about twice that); where creating one is slow (~0.5 ms has been seen), several
// at once through the thread pool while the stream is read on. Which is measured as files are
// written. Larger files stream.
const SMALL_FILE = CHUNK;
const WRITES_IN_FLIGHT = 8;
const SLOW_CREATE_MS = 0.2;
let blockingWriteMs = 0; // moving average of a blocking small-file write, in this process

export interface TreeStats {
  size: number; // bytes of the serialization
  files: number; // regular files
  symlinks: number;
  directories: number;
  // restoreTree: the regular files that begin with the ELF magic. None means the tree has no
  // native code, which spares the caller a walk reading every file (src/native/native-facts.ts).
  elfFiles?: number;
}

export interface TreeHash extends TreeStats {
  hash: string; // SHA-256 of the serialization, lowercase hex
}

// A sink gets the serialization in order. Chunks are never reused after being handed over.
export type TreeSink = Writable | ((chunk: Buffer) => void | Promise<void>);

const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const padLength = (n: number): number => (8 - (n % 8)) % 8;
const ZEROS = Buffer.alloc(8);

function str(b: Buffer | string): Buffer {
  const bytes = typeof b === "string" ? Buffer.from(b, "utf8") : b;
  return Buffer.concat([u64(bytes.length), bytes, ZEROS.subarray(0, padLength(bytes.length))]);
}

// Gathers small header pieces into larger chunks so a sink is not called for every 8 bytes.
class Emitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  size = 0;
  private readonly put: (chunk: Buffer) => Promise<void>;
  constructor(sink: TreeSink) {
    this.put = typeof sink === "function" ? async (c) => void (await sink(c)) : (c) => writeToStream(sink, c);
  }
  async bytes(b: Buffer): Promise<void> {
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.size += b.length;
    if (this.pendingBytes >= CHUNK) await this.flush();
  }
  // File contents go straight through, after whatever header bytes precede them.
  async contents(chunk: Buffer): Promise<void> {
    await this.flush();
    this.size += chunk.length;
    await this.put(chunk);
  }
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    await this.put(chunk);
  }
}

function writeToStream(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    stream.once("error", onError);
    const ok = stream.write(chunk, (err) => {
      if (err) reject(err);
    });
    const done = () => {
      stream.off("error", onError);
      resolve();
    };
    if (ok) done();
    else stream.once("drain", done);
  });
}

// Directory entries as UTF-8 names sorted by their bytes. Names that are not valid UTF-8 cannot be
// represented in the format (they would not survive a round trip), so they are refused.
function sortedEntries(dir: string): string[] {
  const raw = readdirSync(dir, { encoding: "buffer" });
  for (const name of raw) {
    if (!Buffer.from(name.toString("utf8"), "utf8").equals(name)) {
      throw new BeamixError(`${join(dir, name.toString("latin1"))}: file name is not valid UTF-8`);
    }
  }
  raw.sort(Buffer.compare);
  return raw.map((n) => n.toString("utf8"));
}

function kindOf(st: Stats): "regular" | "symlink" | "directory" | undefined {
  if (st.isFile()) return "regular";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isDirectory()) return "directory";
  return undefined;
}

// Serializes the tree at `path` (a directory, file or symlink; a symlink at the top is not followed).
export async function writeTree(path: string, sink: TreeSink): Promise<TreeStats> {
  const out = new Emitter(sink);
  const stats: TreeStats = { size: 0, files: 0, symlinks: 0, directories: 0 };
  await out.bytes(str(TREE_MAGIC));
  await writeNode(path, lstatSync(path), out, stats, 0);
  await out.flush();
  stats.size = out.size;
  return stats;
}

async function writeNode(path: string, st: Stats, out: Emitter, stats: TreeStats, depth: number): Promise<void> {
  const kind = kindOf(st);
  if (kind === undefined) throw new BeamixError(`${path}: not a regular file, directory or symlink`);
  await out.bytes(str(kind));
  if (kind === "regular") {
    stats.files++;
    await out.bytes(u64(st.mode & 0o100 ? 1 : 0));
    await writeContents(path, st, out);
  } else if (kind === "symlink") {
    stats.symlinks++;
    const target = readlinkSync(path, { encoding: "buffer" });
    await out.bytes(str(target));
  } else {
    stats.directories++;
    if (depth >= MAX_DEPTH) throw new BeamixError(`${path}: directory nesting deeper than ${MAX_DEPTH}`);
    const names = sortedEntries(path);
    await out.bytes(u64(names.length));
    for (const name of names) {
      const child = join(path, name);
      await out.bytes(str(name));
      await writeNode(child, lstatSync(child), out, stats, depth + 1);
    }
  }
}

// Streams a file's contents, refusing a file that changes size or identity while being read.
async function writeContents(path: string, st: Stats, out: Emitter): Promise<void> {
  if (st.size <= SMALL_FILE) {
    const data = readSmallFile(path, st);
    await out.bytes(u64(data.length));
    await out.contents(data);
    await out.bytes(ZEROS.subarray(0, padLength(data.length)));
    return;
  }
  let fh: FileHandle;
  try {
    fh = await open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new BeamixError(`${path}: changed while being read`);
    throw err;
  }
  try {
    const fst = await fh.stat();
    if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev || fst.size !== st.size) {
      throw new BeamixError(`${path}: changed while being read`);
    }
    const size = st.size;
    await out.bytes(u64(size));
    let done = 0;
    while (done < size) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) throw new BeamixError(`${path}: changed while being read (shorter than ${size} bytes)`);
      done += bytesRead;
      await out.contents(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    }
    const extra = await fh.read(Buffer.alloc(1), 0, 1, size);
    if (extra.bytesRead !== 0) throw new BeamixError(`${path}: changed while being read (longer than ${size} bytes)`);
    await out.bytes(ZEROS.subarray(0, padLength(size)));
  } finally {
    await fh.close();
  }
}

// A small file's contents, read whole, with the same checks as the streaming path.
function readSmallFile(path: string, st: Stats): Buffer {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new BeamixError(`${path}: changed while being read`);
    throw err;
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev || fst.size !== st.size) {
      throw new BeamixError(`${path}: changed while being read`);
    }
    const buf = Buffer.allocUnsafe(st.size + 1); // one byte more: a file that grew is caught
    let done = 0;
    for (;;) {
      const n = readSync(fd, buf, done, buf.length - done, done);
      if (n === 0) break;
      done += n;
      if (done > st.size) throw new BeamixError(`${path}: changed while being read (longer than ${st.size} bytes)`);
    }
    if (done < st.size) throw new BeamixError(`${path}: changed while being read (shorter than ${st.size} bytes)`);
    return buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

export async function hashTree(path: string): Promise<TreeHash> {
  const h = createHash("sha256");
  const stats = await writeTree(path, (chunk) => void h.update(chunk));
  return { hash: h.digest("hex"), ...stats };
}

// Pulls exact byte counts out of a stream of chunks.
class ByteReader {
  private readonly it: AsyncIterator<Uint8Array | string>;
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  position = 0;
  constructor(source: AsyncIterable<Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }
  // The next non-empty chunk of the source, or undefined at its end.
  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      const next = await this.it.next();
      if (next.done) return undefined;
      const chunk = typeof next.value === "string" ? Buffer.from(next.value) : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length > 0) return chunk;
    }
  }
  private async more(): Promise<boolean> {
    const chunk = await this.next();
    if (!chunk) return false;
    this.buf = this.off < this.buf.length ? Buffer.concat([this.buf.subarray(this.off), chunk]) : chunk;
    this.off = 0;
    return true;
  }
  async read(n: number): Promise<Buffer> {
    if (this.buf.length - this.off < n) {
      // Chunks gathered until n bytes are there, then joined once: joining at each chunk copied
      // a file spanning k chunks k times over.
      const parts = [this.buf.subarray(this.off)];
      let have = parts[0].length;
      while (have < n) {
        const chunk = await this.next();
        if (!chunk) throw new BeamixError(`tree archive: truncated at byte ${this.position + have}`);
        parts.push(chunk);
        have += chunk.length;
      }
      this.buf = Buffer.concat(parts, have);
      this.off = 0;
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.position += n;
    return out;
  }
  // Yields the next n bytes in pieces of up to CHUNK bytes (gathering small input chunks), without
  // holding all n bytes in memory.
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const want = Math.min(left, CHUNK);
      const parts: Buffer[] = [];
      let got = 0;
      while (got < want) {
        if (this.off >= this.buf.length && !(await this.more())) {
          throw new BeamixError(`tree archive: truncated at byte ${this.position + got}`);
        }
        const take = Math.min(want - got, this.buf.length - this.off);
        parts.push(this.buf.subarray(this.off, this.off + take));
        this.off += take;
        got += take;
      }
      this.position += got;
      left -= got;
      yield parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
  }
  async atEnd(): Promise<boolean> {
    return this.off >= this.buf.length && !(await this.more());
  }
}

export interface RestoreOptions {
  maxBytes?: number; // refuse an archive whose file contents add up to more than this
  // How small files are written (see SMALL_FILE): blocking, or several at once through the
  // thread pool. Default: blocking while that has been fast in this process.
  smallFiles?: "blocking" | "pooled";
}

// Recreates the tree serialized in `source` at `destPath`, which must not exist (its parent must).
// Files get mode 0644 or 0755, directories 0755. Every rule of the format is checked; on any error
// the partial tree is removed, so a failed restore leaves nothing behind.
export async function restoreTree(source: AsyncIterable<Uint8Array | string>, destPath: string, options: RestoreOptions = {}): Promise<TreeStats> {
  const r = new ByteReader(source);
  const writes = new PendingWrites();
  const stats: TreeStats = { size: 0, files: 0, symlinks: 0, directories: 0, elfFiles: 0 };
  const budget = { max: options.maxBytes ?? Number.MAX_SAFE_INTEGER, left: options.maxBytes ?? Number.MAX_SAFE_INTEGER };
  if (await exists(destPath)) throw new BeamixError(`${destPath}: restore destination already exists`);
  try {
    const magic = await readStr(r, 64, "magic");
    if (magic.toString("latin1") !== TREE_MAGIC) throw new BeamixError(`tree archive: not a ${TREE_MAGIC} archive`);
    await readNode(r, destPath, stats, 0, budget, writes, options.smallFiles);
    if (!(await r.atEnd())) throw new BeamixError(`tree archive: unexpected data after the end at byte ${r.position}`);
    await writes.settle();
  } catch (err) {
    await writes.settle().catch(() => {}); // nothing may still be writing into what is removed
    await rm(destPath, { recursive: true, force: true });
    throw err;
  }
  stats.size = r.position;
  return stats;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

async function readU64(r: ByteReader, what: string): Promise<number> {
  const v = (await r.read(8)).readBigUInt64LE();
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BeamixError(`tree archive: ${what} too large at byte ${r.position - 8}`);
  return Number(v);
}

async function checkPadding(r: ByteReader, len: number): Promise<void> {
  const pad = await r.read(padLength(len));
  if (pad.some((b) => b !== 0)) throw new BeamixError(`tree archive: non-zero padding at byte ${r.position - pad.length}`);
}

async function readStr(r: ByteReader, max: number, what: string): Promise<Buffer> {
  const len = await readU64(r, `${what} length`);
  if (len > max) throw new BeamixError(`tree archive: ${what} of ${len} bytes exceeds ${max} at byte ${r.position - 8}`);
  const bytes = Buffer.from(await r.read(len)); // copy: the reader's buffer moves on
  await checkPadding(r, len);
  return bytes;
}

function checkName(name: Buffer, at: number): string {
  const s = name.toString("utf8");
  if (
    name.length === 0 ||
    s === "." ||
    s === ".." ||
    name.includes(0x2f) ||
    name.includes(0) ||
    !Buffer.from(s, "utf8").equals(name)
  ) {
    throw new BeamixError(`tree archive: unsafe entry name ${JSON.stringify(name.toString("latin1"))} at byte ${at}`);
  }
  return s;
}

// As the streaming path of readNode writes a file: never through anything that exists already
// (O_EXCL|O_NOFOLLOW), with its mode set whatever the umask.
function writeSmallFileSync(dest: string, data: Buffer, mode: number): void {
  const fd = openSync(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

async function writeSmallFile(dest: string, data: Buffer, mode: number): Promise<void> {
  const fh = await open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

// Writes of small files still in flight while the stream is read on; the first failure is
// thrown by the next add() or by settle().
class PendingWrites {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  async add(write: () => Promise<void>): Promise<void> {
    while (this.inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure.error;
    const p: Promise<void> = write()
      .catch((error: unknown) => void (this.failure ??= { error }))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async settle(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure.error;
  }
}

async function readNode(
  r: ByteReader,
  dest: string,
  stats: TreeStats,
  depth: number,
  budget: { max: number; left: number },
  writes: PendingWrites,
  smallFiles: RestoreOptions["smallFiles"],
): Promise<void> {
  const kind = (await readStr(r, 16, "node type")).toString("latin1");
  if (kind === "regular") {
    const flags = await readU64(r, "flags");
    if (flags > 1) throw new BeamixError(`tree archive: unknown file flags ${flags} at byte ${r.position - 8}`);
    const size = await readU64(r, "file size");
    if (size > budget.left) throw new BeamixError(`tree archive: file contents exceed the limit of ${budget.max} bytes`);
    budget.left -= size;
    const mode = flags ? 0o755 : 0o644;
    if (size <= SMALL_FILE) {
      const data = await r.read(size);
      if (isElf(data)) stats.elfFiles!++;
      if (smallFiles === "blocking" || (smallFiles === undefined && blockingWriteMs < SLOW_CREATE_MS)) {
        const started = performance.now();
        writeSmallFileSync(dest, data, mode);
        blockingWriteMs = 0.8 * blockingWriteMs + 0.2 * (performance.now() - started);
      } else {
        const copy = Buffer.from(data); // the reader's buffer moves on
        await writes.add(() => writeSmallFile(dest, copy, mode));
      }
    } else {
      // O_EXCL|O_NOFOLLOW: never write through anything that already exists.
      const fh = await open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
      try {
        let first = true;
        for await (const piece of r.pieces(size)) {
          if (first && isElf(piece)) stats.elfFiles!++; // the first piece holds CHUNK bytes
          first = false;
          await fh.write(piece);
        }
        await fh.chmod(mode); // the umask may have narrowed the creation mode
      } finally {
        await fh.close();
      }
    }
    await checkPadding(r, size);
    stats.files++;
  } else if (kind === "symlink") {
    const at = r.position;
    const target = await readStr(r, MAX_TARGET_BYTES, "symlink target");
    if (target.length === 0 || target.includes(0)) throw new BeamixError(`tree archive: invalid symlink target at byte ${at}`);
    await symlink(target, dest);
    stats.symlinks++;
  } else if (kind === "directory") {
    if (depth >= MAX_DEPTH) throw new BeamixError(`tree archive: directory nesting deeper than ${MAX_DEPTH}`);
    const count = await readU64(r, "entry count");
    await mkdir(dest, { mode: 0o755 });
    await chmod(dest, 0o755);
    stats.directories++;
    let previous: Buffer | undefined;
    for (let i = 0; i < count; i++) {
      const at = r.position;
      const rawName = await readStr(r, MAX_NAME_BYTES, "entry name");
      const name = checkName(rawName, at);
      if (previous && Buffer.compare(previous, rawName) >= 0) {
        throw new BeamixError(`tree archive: entry ${JSON.stringify(name)} at byte ${at} is out of order or duplicated`);
      }
      previous = rawName;
      await readNode(r, join(dest, name), stats, depth + 1, budget, writes, smallFiles);
    }
  } else {
    throw new BeamixError(`tree archive: unknown node type ${JSON.stringify(kind)} at byte ${r.position}`);
  }
}
