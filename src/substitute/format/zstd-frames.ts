// Checks the frame structure of a zstd stream as it passes through, before the decompressor sees
// it (RFC 8878, section 3). A cache chooses the archive's bytes, and zstd lets it pad them with
// skippable frames, which decompress to nothing: bytes that cost a download and prove nothing. So
// a skippable frame is refused, and so is a frame announcing more content than the signed tree
// size; everything else is left to the decompressor and to the hashes.
//
// The walker reads only headers: frame headers, the 3-byte block headers, and the optional
// checksum; block contents are skipped by their sizes, so the cost is linear and the state small.
import { Transform, type TransformCallback } from "node:stream";
import { BeamixError } from "../../errors.ts";

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type Need =
  | { what: "magic" } // 4 bytes, between frames
  | { what: "descriptor" } // the frame header descriptor, 1 byte
  | { what: "header-rest"; descriptor: number } // window, dictionary id, content size
  | { what: "block-header"; checksum: boolean } // 3 bytes
  | { what: "skip"; then: Need } // block contents
  | { what: "checksum" }; // 4 bytes

const FCS_BYTES = [0, 2, 4, 8];
const DID_BYTES = [0, 1, 2, 4];

export class ZstdFrameCheck extends Transform {
  private readonly what: string;
  private readonly maxContent: number;
  private need: Need = { what: "magic" };
  private skip = 0; // bytes of block content still to pass through
  private pending = Buffer.alloc(0); // a header split across chunks
  private offset = 0; // bytes seen, for messages
  private frames = 0;

  // what: the archive, for messages; maxContent: the most a frame may announce (the signed size).
  constructor(what: string, maxContent: number) {
    super();
    this.what = what;
    this.maxContent = maxContent;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.walk(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.need.what !== "magic" || this.pending.length > 0) return cb(new BeamixError(`${this.what} ends inside a zstd frame (truncated)`));
    if (this.frames === 0) return cb(new BeamixError(`${this.what} holds no zstd frame`));
    cb();
  }

  private fail(message: string): never {
    throw new BeamixError(`${this.what} cannot be read: ${message} at byte ${this.offset}`);
  }

  private walk(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.need.what === "skip") {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        this.offset += n;
        if (this.skip === 0) this.need = this.need.then;
        continue;
      }
      const size = this.headerSize();
      const take = Math.min(size - this.pending.length, chunk.length - at);
      this.pending = Buffer.concat([this.pending, chunk.subarray(at, at + take)]);
      at += take;
      if (this.pending.length < size) break;
      const header = this.pending;
      this.pending = Buffer.alloc(0);
      this.header(header);
      this.offset += size;
    }
  }

  private headerSize(): number {
    const n = this.need;
    if (n.what === "magic" || n.what === "checksum") return 4;
    if (n.what === "descriptor") return 1;
    if (n.what === "block-header") return 3;
    if (n.what === "header-rest") {
      const d = n.descriptor;
      const single = (d >> 5) & 1;
      const fcs = FCS_BYTES[d >> 6] || (single ? 1 : 0);
      return (single ? 0 : 1) + DID_BYTES[d & 3] + fcs;
    }
    return 0;
  }

  private header(h: Buffer): void {
    const n = this.need;
    if (n.what === "magic") {
      const magic = h.readUInt32LE(0);
      if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) this.fail("a zstd skippable frame (refused: it decompresses to nothing)");
      if (magic !== ZSTD_MAGIC) this.fail(`not a zstd frame (magic 0x${magic.toString(16)})`);
      this.frames++;
      this.need = { what: "descriptor" };
    } else if (n.what === "descriptor") {
      if (h[0] & 0x08) this.fail("a zstd frame header with the reserved bit set");
      this.need = { what: "header-rest", descriptor: h[0] }; // at least one byte: a window or a size
    } else if (n.what === "header-rest") {
      const d = n.descriptor;
      const single = (d >> 5) & 1;
      const fcsBytes = FCS_BYTES[d >> 6] || (single ? 1 : 0);
      if (fcsBytes > 0) {
        const field = h.subarray(h.length - fcsBytes);
        const content = fcsBytes === 1 ? field[0] : fcsBytes === 2 ? field.readUInt16LE(0) + 256 : fcsBytes === 4 ? field.readUInt32LE(0) : Number(field.readBigUInt64LE(0));
        if (content > this.maxContent) this.fail(`a zstd frame of ${content} bytes of content, more than the ${this.maxContent} the record signs`);
      }
      this.need = { what: "block-header", checksum: ((d >> 2) & 1) === 1 };
    } else if (n.what === "block-header") {
      const v = h[0] | (h[1] << 8) | (h[2] << 16);
      const last = v & 1;
      const type = (v >> 1) & 3;
      const size = v >>> 3;
      if (type === 3) this.fail("a zstd block of the reserved type");
      const after: Need = last ? (n.checksum ? { what: "checksum" } : { what: "magic" }) : n;
      // A raw or compressed block holds `size` bytes; an RLE block holds one.
      const content = type === 1 ? 1 : size;
      if (content === 0) this.need = after;
      else {
        this.skip = content;
        this.need = { what: "skip", then: after };
      }
    } else if (n.what === "checksum") {
      this.need = { what: "magic" };
    }
  }
}
