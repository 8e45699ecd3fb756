// The container of a compiled Erlang module (.beam): an IFF-style file
//   "FOR1" ‖ u32be(size of everything after this field) ‖ "BEAM" ‖ chunk*
//   chunk = id (4 bytes) ‖ u32be(length of data) ‖ data ‖ zero bytes up to a multiple of 4
// We only split it into chunks and say what each chunk is for; the chunk contents are not decoded
// here (except enough of the atom table to name the module).
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { BeamixError } from "../errors.ts";

export interface BeamChunk {
  id: string; // four characters, e.g. "Code"
  data: Buffer; // without padding
}

export interface Beam {
  chunks: BeamChunk[]; // in file order
}

// What a chunk is for, as far as judging two builds goes:
// - "code": read by the loader or observable through module_info/1 and the compiler's checks;
// - "debug-info": abstract code / Elixir debug info and the compile info (options, version,
//   sometimes the source path) — none of it changes what the loaded code does;
// - "documentation": EEP 48 docs, read by h/1 and ExDoc;
// - "other": a chunk we do not know; a difference there is treated as a real difference.
export type ChunkClass = "code" | "debug-info" | "documentation" | "other";

const CODE_CHUNKS = new Set(["Code", "AtU8", "Atom", "ImpT", "ExpT", "LocT", "StrT", "LitT", "FunT", "Line", "Type", "Meta", "Attr", "ExCk"]);
const DEBUG_INFO_CHUNKS = new Set(["Dbgi", "Abst", "CInf"]);
const DOCUMENTATION_CHUNKS = new Set(["Docs"]);

export function chunkClass(id: string): ChunkClass {
  if (CODE_CHUNKS.has(id)) return "code";
  if (DEBUG_INFO_CHUNKS.has(id)) return "debug-info";
  if (DOCUMENTATION_CHUNKS.has(id)) return "documentation";
  return "other";
}

export const isDebugInfoChunk = (id: string): boolean => chunkClass(id) === "debug-info";

const HEADER = 12; // "FOR1" ‖ size ‖ "BEAM"
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** Splits a .beam file into its chunks. `file` names the file in error messages. */
export function parseBeam(bytes: Buffer, file: string): Beam {
  let buf = bytes;
  // The loader also accepts gzip-compressed BEAM files (compile option `compressed`).
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new BeamixError(`${file}: not a BEAM file (gzip data does not inflate: ${(e as Error).message})`);
    }
  }
  const bad = (msg: string): never => {
    throw new BeamixError(`${file}: not a BEAM file (${msg})`);
  };
  if (buf.length < HEADER) bad(`${buf.length} bytes, shorter than the 12-byte header`);
  if (buf.toString("latin1", 0, 4) !== "FOR1") bad(`starts with ${JSON.stringify(buf.toString("latin1", 0, 4))}, expected "FOR1"`);
  const size = buf.readUInt32BE(4);
  if (size !== buf.length - 8) bad(`header says ${size + 8} bytes, file has ${buf.length}`);
  if (buf.toString("latin1", 8, 12) !== "BEAM") bad(`form type ${JSON.stringify(buf.toString("latin1", 8, 12))}, expected "BEAM"`);
  const chunks: BeamChunk[] = [];
  let off = HEADER;
  while (off < buf.length) {
    if (buf.length - off < 8) bad(`${buf.length - off} stray bytes at offset ${off}, too few for a chunk header`);
    const id = buf.toString("latin1", off, off + 4);
    const len = buf.readUInt32BE(off + 4);
    const start = off + 8;
    if (len > buf.length - start) bad(`chunk ${JSON.stringify(id)} at offset ${off} claims ${len} bytes, only ${buf.length - start} remain`);
    chunks.push({ id, data: Buffer.from(buf.subarray(start, start + len)) });
    // The last chunk's padding may be missing; anything else must be aligned.
    off = Math.min(start + len + pad4(len), buf.length);
  }
  return { chunks };
}

export async function readBeam(path: string): Promise<Beam> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new BeamixError(`${path}: cannot read BEAM file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseBeam(bytes, path);
}

/** Writes chunks back into a container the way the compiler does (every chunk zero-padded). */
export function writeBeam(chunks: readonly BeamChunk[]): Buffer {
  const parts: Buffer[] = [Buffer.from("FOR1"), Buffer.alloc(4), Buffer.from("BEAM")];
  let size = 4; // "BEAM"
  for (const c of chunks) {
    const id = Buffer.from(c.id, "latin1");
    if (id.length !== 4 || c.id.length !== 4) throw new BeamixError(`BEAM chunk id ${JSON.stringify(c.id)} is not 4 bytes`);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(c.data.length);
    parts.push(id, head, c.data, Buffer.alloc(pad4(c.data.length)));
    size += 8 + c.data.length + pad4(c.data.length);
  }
  parts[1].writeUInt32BE(size);
  return Buffer.concat(parts);
}

/**
 * The module's name: the first atom of the atom table ("AtU8", or "Atom" before OTP 20), or null
 * when there is no table or it cannot be read.
 */
export function beamModuleName(beam: Beam): string | null {
  const chunk = beam.chunks.find((c) => c.id === "AtU8" || c.id === "Atom");
  if (!chunk || chunk.data.length < 5) return null;
  const d = chunk.data;
  const count = d.readInt32BE(0);
  if (count === 0) return null;
  let len: number;
  let off: number;
  if (count > 0) {
    len = d[4];
    off = 5;
  } else {
    // OTP 28+ writes a negative count and the lengths in the compact term encoding (tag u = 0).
    const b = d[4];
    if ((b & 0x07) !== 0) return null;
    if ((b & 0x08) === 0) {
      len = b >> 4;
      off = 5;
    } else if ((b & 0x10) === 0) {
      if (d.length < 6) return null;
      len = ((b & 0xe0) << 3) | d[5];
      off = 6;
    } else {
      return null; // atoms are at most 255 characters, so longer forms do not occur
    }
  }
  if (off + len > d.length) return null;
  return d.toString(chunk.id === "AtU8" ? "utf8" : "latin1", off, off + len);
}
