// Reads one file out of an escript's embedded zip archive without starting a VM. An escript
// is a few header lines (#!, a comment, emulator flags) followed by a zip archive whose
// offsets count from the start of the archive, not of the file: the archive start is found
// from the end-of-central-directory record, as for self-extracting zips.
import { readFile } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;

function findEocd(buf: Buffer): number {
  // The record is 22 bytes plus a comment of at most 65535 bytes.
  const stop = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= stop; i--) {
    if (buf.readUInt32LE(i) === EOCD_SIG && i + 22 + buf.readUInt16LE(i + 20) === buf.length) return i;
  }
  return -1;
}

// The bytes of `name` in the zip archive inside `buf`, or undefined if the archive has no such
// entry. Throws if `buf` holds no readable zip archive.
export function zipEntry(buf: Buffer, name: string): Buffer | undefined {
  const eocd = findEocd(buf);
  if (eocd < 0) throw new Error("no zip archive found");
  const entries = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdSize === 0xffffffff || cdOffset === 0xffffffff) throw new Error("zip64 archives are not supported");
  const base = eocd - cdSize - cdOffset; // where the archive starts in the file
  if (base < 0) throw new Error("corrupt zip archive: central directory out of range");
  let p = base + cdOffset;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CDH_SIG) throw new Error("corrupt zip central directory");
    const method = buf.readUInt16LE(p + 10);
    const compSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = base + buf.readUInt32LE(p + 42);
    const entryName = buf.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    if (local + 30 > buf.length || buf.readUInt32LE(local) !== LFH_SIG) throw new Error(`corrupt zip entry ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + compSize);
    if (data.length !== compSize) throw new Error(`zip entry ${name} is truncated`);
    const out = method === 0 ? Buffer.from(data) : method === 8 ? inflateRawSync(data) : undefined;
    if (!out) throw new Error(`zip entry ${name} uses compression method ${method}`);
    if (out.length !== size) throw new Error(`zip entry ${name} has the wrong size`);
    return out;
  }
  return undefined;
}

// True when the file starts like an escript (a #! line naming escript).
export function looksLikeEscript(head: Buffer): boolean {
  const firstLine = head.subarray(0, Math.max(0, head.indexOf(0x0a))).toString("latin1");
  return firstLine.startsWith("#!") && /\bescript\b/.test(firstLine);
}

export async function readEscriptEntry(path: string, name: string): Promise<Buffer | undefined> {
  const buf = await readFile(path);
  if (!looksLikeEscript(buf)) return undefined;
  return zipEntry(buf, name);
}
