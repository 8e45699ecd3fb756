// gzip as Hex writes it, byte for byte, and a bounded gunzip for untrusted input.
//
// Node's own zlib (Chromium's fork) picks different deflate matches than the system zlib
// 1.2.13 that Erlang links against, so compression goes through pako, which reproduces
// every stream in the vectors. Decompression uses node:zlib: speed matters there, the
// output is the same whatever the implementation, and it can stop at a size limit.
import { createRequire } from "node:module";
import zlib from "node:zlib";
import { BeamixError } from "../errors.ts";

// pako is loaded when something is compressed: reading and verifying tarballs (every build)
// never needs it. Its single-file deflate-only build loads fastest.
const require = createRequire(import.meta.url);
let loaded: typeof import("pako") | undefined;
const pako = (): typeof import("pako") => (loaded ??= require("pako/dist/pako_deflate.min.js") as typeof import("pako"));

// hex_core writes its own gzip header: no flags, mtime 0, xfl 0, OS 0 ("FAT"), where
// zlib:gzip/1 and pako would write OS 3 (Unix).
const HEX_TARBALL_GZIP_HEADER = Buffer.from("1f8b0800000000000000", "hex");

// contents.tar.gz of a package tarball: zlib level 6, windowBits 15, memLevel 8.
export function gzipHexTarball(data: Uint8Array): Buffer {
  const deflated = pako().deflateRaw(data, { level: 6, windowBits: 15, memLevel: 8 });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data), 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4); // ISIZE is the length modulo 2^32
  return Buffer.concat([HEX_TARBALL_GZIP_HEADER, deflated, trailer]);
}

// Registry resources (names, versions, packages/NAME), as Erlang's zlib:gzip/1 writes them:
// header 1f8b0800000000000003, level 6.
export function gzipRegistry(data: Uint8Array): Buffer {
  return Buffer.from(pako().gzip(data)); // pako's defaults are level 6, OS 3, mtime 0
}

const FTEXT = 1;
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

// Decompresses exactly one gzip member. Inflation stops as soon as the output would exceed
// maxBytes, so a small bomb cannot allocate gigabytes. The trailer's CRC32 and length are
// checked, and anything after the member is refused: Hex never writes a second member, and
// bytes that nothing reads have no place in a checksummed archive.
export function gunzip(buf: Uint8Array, maxBytes: number, label = "gzip data"): Buffer {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (what: string): never => {
    throw new BeamixError(`${label}: ${what}`);
  };
  if (data.length < 18) fail(`not gzip data (only ${data.length} bytes)`);
  if (data[0] !== 0x1f || data[1] !== 0x8b) fail("not gzip data (bad magic bytes)");
  if (data[2] !== 8) fail(`unsupported gzip compression method ${data[2]}`);
  const flags = data[3];
  if ((flags & ~(FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT)) !== 0) fail("reserved gzip header flags set");
  let offset = 10;
  if (flags & FEXTRA) {
    if (offset + 2 > data.length) fail("truncated gzip header");
    offset += 2 + data.readUInt16LE(offset);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const end = data.indexOf(0, offset);
      if (end < 0) fail("truncated gzip header");
      offset = end + 1;
    }
  }
  if (flags & FHCRC) offset += 2;
  if (offset + 8 > data.length) fail("truncated gzip header");

  let result: { buffer: Buffer; engine: zlib.InflateRaw };
  try {
    result = zlib.inflateRawSync(data.subarray(offset), { maxOutputLength: Math.max(1, maxBytes), info: true }) as unknown as {
      buffer: Buffer;
      engine: zlib.InflateRaw;
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") fail(`decompresses to more than the limit of ${maxBytes} bytes`);
    if (code === "Z_BUF_ERROR") fail("truncated gzip data");
    return fail(`corrupt gzip data (${(err as Error).message})`);
  }
  const out = result.buffer;
  if (out.length > maxBytes) fail(`decompresses to more than the limit of ${maxBytes} bytes`);
  const end = offset + result.engine.bytesWritten; // input bytes the inflater consumed
  if (end + 8 > data.length) fail("truncated gzip trailer");
  if (data.readUInt32LE(end) !== zlib.crc32(out)) fail("gzip CRC32 mismatch");
  if (data.readUInt32LE(end + 4) !== out.length % 2 ** 32) fail("gzip length mismatch");
  if (end + 8 !== data.length) fail(`${data.length - end - 8} unexpected bytes after the gzip data`);
  return out;
}
