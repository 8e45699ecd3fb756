// The bytes of a .beam file in which a path could hide. A path in a module rarely shows in the
// raw file: the literal table (LitT) is zlib-compressed and the debug info (Dbgi) is usually a
// compressed external term. This expands both, so a byte search for a path sees what the
// module really holds. (A path with characters above 255 inside a charlist is encoded one
// integer per character and is not found; such host paths are rare.)
import { gunzipSync, inflateSync } from "node:zlib";

export interface BeamChunk {
  id: string;
  data: Buffer;
}

// The chunks of a BEAM file (IFF: "FOR1", size, "BEAM", then id/size/data padded to 4 bytes).
// Returns null when the bytes are not a BEAM file. A gzip-compressed BEAM is expanded first.
export function beamChunks(file: Buffer): BeamChunk[] | null {
  let b = file;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch {
      return null;
    }
  }
  if (b.length < 12 || b.toString("latin1", 0, 4) !== "FOR1" || b.toString("latin1", 8, 12) !== "BEAM") return null;
  const end = Math.min(b.length, 8 + b.readUInt32BE(4));
  const chunks: BeamChunk[] = [];
  let at = 12;
  while (at + 8 <= end) {
    const id = b.toString("latin1", at, at + 4);
    const size = b.readUInt32BE(at + 4);
    const start = at + 8;
    if (start + size > end) return null;
    chunks.push({ id, data: b.subarray(start, start + size) });
    at = start + size + ((4 - (size % 4)) % 4);
  }
  return chunks;
}

const inflateOrNull = (b: Buffer): Buffer | null => {
  try {
    return inflateSync(b);
  } catch {
    return null;
  }
};

// Every part of a BEAM worth searching: each chunk as stored, and the expanded form of the
// compressed ones. For anything that is not a BEAM file, the file itself.
export function searchableParts(file: Buffer): Buffer[] {
  const chunks = beamChunks(file);
  if (!chunks) return [file];
  const parts: Buffer[] = [];
  for (const c of chunks) {
    parts.push(c.data);
    let expanded: Buffer | null = null;
    if (c.id === "LitT" && c.data.length > 4 && c.data.readUInt32BE(0) > 0) {
      expanded = inflateOrNull(c.data.subarray(4)); // uncompressed size, then zlib data
    } else if (c.data.length > 6 && c.data[0] === 131 && c.data[1] === 80) {
      expanded = inflateOrNull(c.data.subarray(6)); // external term, compressed: 131, 80, size, zlib data
    }
    if (expanded) parts.push(expanded);
  }
  return parts;
}
