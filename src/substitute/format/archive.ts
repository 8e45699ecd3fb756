// The archive of a store item: its tree serialization (src/store/nar.ts: sorted entries, no times,
// only the executable bit, symlinks kept) compressed with zstd. The serialization's SHA-256 is the
// store's narHash, so a restored tree can be checked against the signed record byte for byte, as
// it streams in, before anything of it reaches the store.
import { createHash, type Hash } from "node:crypto";
import { PassThrough, Transform, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { constants as zc, createZstdCompress, createZstdDecompress } from "node:zlib";
import { rm } from "node:fs/promises";
import { BeamixError, errorMessage } from "../../errors.ts";
import { restoreTree, writeTree, type TreeStats } from "../../store/nar.ts";
import type { Compression } from "./layout.ts";
import { ZstdFrameCheck } from "./zstd-frames.ts";

// zstd's output is a function of its input and parameters, so packing one tree twice gives the
// same file (and file hash): two publishers racing write identical archives, and a server can
// announce an archive's hash before streaming it. One catch: Node's zstd stream compresses the
// last queued chunk differently when end() arrives before that chunk was processed, so packTree
// feeds one chunk at a time and ends only once all were consumed.
// Level 9: on Elixir 1.14's own ebin (4.9 MB of tree) it gives 72.3% in 62 ms, where level 3 gives
// 74.8% in 23 ms, 12 gives 72.2% in 127 ms and 19 gives 68.6% in 1.1 s; a server compressing
// items on request wants the cheap end of the good ratios.
export const ZSTD_LEVEL = 9;

export interface ArchiveInfo {
  compression: Compression;
  fileHash: string; // SHA-256 hex of the archive file
  fileSize: number;
  narHash: string; // SHA-256 hex of the uncompressed serialization
  narSize: number;
}

// Hashes and counts what passes through; fails once more than `limit` bytes went by.
class Tap extends Transform {
  readonly hash: Hash = createHash("sha256");
  size = 0;
  private readonly limit: number;
  private readonly what: string;
  constructor(what: string, limit = Number.MAX_SAFE_INTEGER) {
    super();
    this.what = what;
    this.limit = limit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.limit) return cb(new BeamixError(`${this.what} is longer than the ${this.limit} bytes the record says`));
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

function compressor(compression: Compression, narSize: number | undefined): Transform {
  if (compression === "none") return new PassThrough();
  const params = { [zc.ZSTD_c_compressionLevel]: ZSTD_LEVEL, [zc.ZSTD_c_checksumFlag]: 1 };
  return createZstdCompress(narSize === undefined ? { params } : { params, pledgedSrcSize: narSize });
}

// Writes the archive of the tree at `path` into `out` (which is ended), returning its hashes.
// With the tree's size known up front (knownNarSize: a store item's), zstd sizes its window and tables
// to it: a small item then costs kilobytes of memory instead of tens of megabytes, and the frame
// states its content size. The bytes differ from an archive packed without it (file hashes are
// not signed; each cache's record names its own), and a tree of another size fails.
export async function packTree(path: string, out: Writable, compression: Compression = "zstd", knownNarSize?: number): Promise<ArchiveInfo> {
  const nar = createHash("sha256");
  let narSize = 0;
  const comp = compressor(compression, knownNarSize);
  const fileTap = new Tap("archive");
  const flowing = pipeline(comp, fileTap, out);
  const feed = async () => {
    try {
      await writeTree(path, async (chunk) => {
        nar.update(chunk);
        narSize += chunk.length;
        await new Promise<void>((ok, fail) => comp.write(chunk, (err) => (err ? fail(err) : ok())));
      });
      comp.end();
    } catch (err) {
      comp.destroy(err as Error);
      throw err;
    }
  };
  await Promise.all([feed(), flowing]);
  return { compression, fileHash: fileTap.hash.digest("hex"), fileSize: fileTap.size, narHash: nar.digest("hex"), narSize };
}

// Only the hashes and sizes: what a record needs, without keeping the archive.
export async function archiveInfo(path: string, compression: Compression = "zstd"): Promise<ArchiveInfo> {
  const sink = new PassThrough();
  sink.resume();
  return packTree(path, sink, compression);
}

export interface ArchiveExpectation {
  compression: Compression;
  fileHash: string;
  fileSize: number;
  narHash: string;
  narSize: number;
}

// The most an archive of a tree of `narSize` bytes can take. The record's FileSize is not signed
// (a cache may choose another compression), its NarSize is: so this, not FileSize, is what bounds a
// download. zstd's own bound for one frame (ZSTD_COMPRESSBOUND), plus room for frame headers.
export function maxArchiveBytes(narSize: number, compression: Compression): number {
  if (compression === "none") return narSize;
  const small = narSize < 128 * 1024 ? (128 * 1024 - narSize) >> 11 : 0;
  return narSize + Math.floor(narSize / 256) + small + 64;
}

// Refuses, before any download, a record whose archive is larger than its signed tree allows.
export function checkArchiveSize(expect: Pick<ArchiveExpectation, "compression" | "fileSize" | "narSize">): void {
  const max = maxArchiveBytes(expect.narSize, expect.compression);
  if (expect.fileSize > max) {
    throw new BeamixError(`the record's archive size ${expect.fileSize} is more than a ${expect.compression} archive of its signed ${expect.narSize}-byte tree can take (${max})`);
  }
}

// Restores the archive streamed by `source` at `dest` (which must not exist; its parent must),
// checking while it streams that neither the file nor the tree is longer than expected (the file is
// bounded by the signed tree size too, and zstd skippable frames are refused), and at the end that
// both hashes and sizes match. On any failure nothing is left at `dest`, and the message
// says what did not match. The caller cancels the source if this throws before it is drained.
export async function unpackArchive(source: AsyncIterable<Uint8Array>, expect: ArchiveExpectation, dest: string): Promise<TreeStats> {
  checkArchiveSize(expect);
  const fileTap = new Tap("the archive file", expect.fileSize);
  const narTap = new Tap("the archive's tree", expect.narSize);
  const frames = expect.compression === "zstd" ? new ZstdFrameCheck("the archive", expect.narSize) : new PassThrough();
  const decompress = expect.compression === "zstd" ? createZstdDecompress() : new PassThrough();
  const streams: Transform[] = [fileTap, frames, decompress, narTap];
  const flowing = pipeline(source, fileTap, frames, decompress, narTap).catch((err: unknown) => err);
  let stats: TreeStats;
  try {
    stats = await restoreTree(narTap, dest, { maxBytes: expect.narSize });
    const piped = await flowing;
    if (piped) throw piped;
  } catch (err) {
    for (const s of streams) s.destroy();
    await rm(dest, { recursive: true, force: true });
    const piped = await flowing;
    // The root cause is the stream's error when there is one (a short body, bad zstd data, a limit),
    // not the "truncated tree" the restorer saw as a consequence.
    const cause = piped && !isPrematureClose(piped) ? piped : err;
    throw cause instanceof BeamixError ? cause : new BeamixError(`the archive cannot be read: ${describe(cause)}`);
  }
  const mismatch = (what: string, got: string | number, want: string | number) =>
    new BeamixError(`${what} is ${got}, the record says ${want}`);
  let problem: BeamixError | undefined;
  if (fileTap.size !== expect.fileSize) problem = mismatch("the archive file size", fileTap.size, expect.fileSize);
  else if (fileTap.hash.digest("hex") !== expect.fileHash) problem = new BeamixError(`the archive file hash does not match the record's sha256:${expect.fileHash}`);
  else if (narTap.size !== expect.narSize) problem = mismatch("the tree size", narTap.size, expect.narSize);
  else if (narTap.hash.digest("hex") !== expect.narHash) problem = new BeamixError(`the tree hash does not match the record's sha256:${expect.narHash}`);
  if (problem) {
    await rm(dest, { recursive: true, force: true });
    throw problem;
  }
  return stats;
}

function isPrematureClose(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE";
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ERR_STREAM_PREMATURE_CLOSE") return "the download ended early";
  if (code === "Z_BUF_ERROR") return `zstd: ${errorMessage(err)} (truncated or corrupt)`;
  if (typeof code === "string" && (code.startsWith("ZSTD_") || code.startsWith("Z_"))) return `zstd: ${errorMessage(err)}`;
  return errorMessage(err);
}
