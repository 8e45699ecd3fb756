// POSIX ustar, as Erlang's erl_tar (and so hex_core) writes it, and a strict reader.
//
// Writer facts (checked against the vectors and OTP 25's erl_tar):
// - numbers are zero-padded octal + NUL: 7 digits for mode/uid/gid/devmajor/devminor,
//   11 for size/mtime, and the header checksum too is 7 digits + NUL (not GNU's 6 + NUL + space);
// - the mode field keeps the file-type bits (0100644, 040755, 0120777);
// - uname/gname empty, magic "ustar\0", version "00", directory names end in "/";
// - a name over 100 bytes is split at its LAST "/" into prefix (<= 155) and name (<= 99);
//   if that split does not fit, or the name (or link target) is not plain ASCII, erl_tar
//   writes a PAX 'x' header first ("linkpath" then "path" records) named
//   DIR/PaxHeaders.0/BASE (non-ASCII characters dropped, cut to 99 bytes), and leaves the
//   real header's name (or linkname) empty;
// - data padded to 512 bytes, two zero blocks at the end, no padding to a 10240-byte record.
import { BeamixError } from "../errors.ts";

export const BLOCK = 512;
// 2000-01-01T00:00:00Z: the fixed mtime of every entry Hex writes.
export const HEX_MTIME = 946684800;

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

const TYPE_BITS: Record<Exclude<TarEntryType, "other">, number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  hardlink: 0o100000,
};
const TYPEFLAG: Record<Exclude<TarEntryType, "other">, string> = {
  file: "0",
  directory: "5",
  symlink: "2",
  hardlink: "1",
};

export interface TarWriteEntry {
  name: string; // "/"-separated path inside the archive
  // Permission bits (0o644) or a whole st_mode (0o100644); the file-type bits written
  // always follow `type`.
  mode: number;
  type?: Exclude<TarEntryType, "other">; // default "file"
  data?: Uint8Array; // contents of a file; nothing else has data
  linkname?: string; // target of a symlink or hard link
  mtime?: number; // seconds; default HEX_MTIME
}

// Every field of a ustar header. Strings are written as UTF-8; a Buffer is written as is,
// which lets tests build headers no well-behaved writer would produce.
export interface TarHeaderFields {
  name: string | Uint8Array;
  mode: number;
  uid?: number;
  gid?: number;
  size: number;
  mtime?: number;
  typeflag: string; // one character
  linkname?: string | Uint8Array;
  magic?: string; // default "ustar\0"; 6 bytes
  version?: string; // default "00"; 2 bytes
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  prefix?: string | Uint8Array;
}

const bytes = (v: string | Uint8Array): Buffer => (typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v));

function putBytes(block: Buffer, offset: number, width: number, value: string | Uint8Array, field: string): void {
  const b = bytes(value);
  if (b.length > width) throw new BeamixError(`tar: ${field} is ${b.length} bytes, more than the ${width} a ustar header holds`);
  b.copy(block, offset);
}

// Zero-padded octal of width-1 digits, then NUL.
function putOctal(block: Buffer, offset: number, width: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** (width - 1)) {
    throw new BeamixError(`tar: ${field} ${value} does not fit in a ustar header`);
  }
  block.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "latin1");
}

// One 512-byte header block with its checksum filled in.
export function encodeTarHeader(h: TarHeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  putBytes(block, 0, 100, h.name, "name");
  putOctal(block, 100, 8, h.mode, "mode");
  putOctal(block, 108, 8, h.uid ?? 0, "uid");
  putOctal(block, 116, 8, h.gid ?? 0, "gid");
  putOctal(block, 124, 12, h.size, "size");
  putOctal(block, 136, 12, h.mtime ?? HEX_MTIME, "mtime");
  putBytes(block, 156, 1, h.typeflag, "typeflag");
  putBytes(block, 157, 100, h.linkname ?? "", "linkname");
  putBytes(block, 257, 6, h.magic ?? "ustar\0", "magic");
  putBytes(block, 263, 2, h.version ?? "00", "version");
  putBytes(block, 265, 32, h.uname ?? "", "uname");
  putBytes(block, 297, 32, h.gname ?? "", "gname");
  putOctal(block, 329, 8, h.devmajor ?? 0, "devmajor");
  putOctal(block, 337, 8, h.devminor ?? 0, "devminor");
  putBytes(block, 345, 155, h.prefix ?? "", "prefix");
  putOctal(block, 148, 8, headerChecksum(block), "checksum");
  return block;
}

// Sum of all header bytes with the checksum field counted as eight spaces.
function headerChecksum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i];
  return sum;
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

// "%d key=value\n", where the leading length counts the whole record, itself included.
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body, "utf8");
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return Buffer.from(`${length}${body}`, "utf8");
}

function paxHeaderName(name: string): Buffer {
  const slash = name.replace(/\/$/, "").lastIndexOf("/");
  const dir = slash < 0 ? "." : name.slice(0, slash);
  const base = slash < 0 ? name : name.slice(slash + 1);
  const ascii = (s: string) => s.replace(/[^\x00-\x7f]/gu, "");
  return Buffer.from(`${ascii(dir)}/PaxHeaders.0/${ascii(base)}`, "latin1").subarray(0, 99); // erl_tar keeps a NUL
}

// Where a path goes in a ustar header, or undefined when it needs a PAX record.
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return { name, prefix: "" };
  const slash = name.lastIndexOf("/");
  if (slash <= 0) return undefined;
  const prefix = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  // erl_tar leaves the split name room for a NUL: 99 bytes, where an unsplit name gets 100.
  if (prefix.length > 155 || rest.length > 99 || rest.length === 0) return undefined;
  return { name: rest, prefix };
}

const paddingLength = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;
const padding = (size: number): Buffer => Buffer.alloc(paddingLength(size));

// The blocks of one entry: an optional PAX header with its data, the header, the data.
export function encodeTarEntry(entry: TarWriteEntry): Buffer[] {
  const type = entry.type ?? "file";
  let name = entry.name;
  if (type === "directory" && !name.endsWith("/")) name += "/";
  if (name === "" || name.includes("\0")) throw new BeamixError(`tar: invalid entry name ${JSON.stringify(entry.name)}`);
  const data = type === "file" ? Buffer.from(entry.data ?? new Uint8Array(0)) : Buffer.alloc(0);
  if (type !== "file" && entry.data && entry.data.length > 0) {
    throw new BeamixError(`tar: ${entry.name}: only regular files carry data`);
  }
  const linkname = entry.linkname ?? "";
  if ((type === "symlink" || type === "hardlink") && linkname === "") {
    throw new BeamixError(`tar: ${entry.name}: a ${type} needs a target`);
  }
  const mtime = entry.mtime ?? HEX_MTIME;
  const mode = (entry.mode & 0o7777) | TYPE_BITS[type];

  const records: Buffer[] = [];
  const linkFits = isAscii(linkname) && linkname.length <= 100;
  if (!linkFits) records.push(paxRecord("linkpath", linkname));
  const split = splitName(name);
  if (!split) records.push(paxRecord("path", name));

  const blocks: Buffer[] = [];
  if (records.length > 0) {
    const pax = Buffer.concat(records);
    blocks.push(encodeTarHeader({ name: paxHeaderName(name), mode: 0o100644, size: pax.length, mtime, typeflag: "x" }));
    blocks.push(pax, padding(pax.length));
  }
  blocks.push(
    encodeTarHeader({
      name: split ? split.name : "",
      prefix: split ? split.prefix : "",
      mode,
      size: data.length,
      mtime,
      typeflag: TYPEFLAG[type],
      linkname: linkFits ? linkname : "",
    }),
  );
  if (data.length > 0) blocks.push(data, padding(data.length));
  return blocks;
}

// A whole archive: the entries in the given order, then two zero blocks.
export function writeTar(entries: TarWriteEntry[]): Buffer {
  const blocks = entries.flatMap(encodeTarEntry);
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}

export interface TarEntry {
  name: string; // full path (prefix joined, PAX/GNU long names applied); directories keep no trailing "/"
  type: TarEntryType;
  typeflag: string; // the raw type character
  mode: number; // permission bits only (& 0o7777)
  size: number;
  linkname: string;
  data: Buffer; // a view into the archive; empty for anything but files
  offset: number; // byte offset of the entry's (first) header, for messages
}

export interface ReadTarOptions {
  label?: string; // names the archive in error messages
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Reads every entry and checks every header checksum. Accepts POSIX ustar and GNU
// ("ustar  \0") headers, PAX 'x' records (path, linkpath, size) and GNU 'L'/'K' long names;
// refuses anything damaged: a bad checksum, a malformed number, a name that is not UTF-8,
// data running past the end, a missing end-of-archive block, non-zero bytes after it.
export function readTar(buf: Uint8Array, opts: ReadTarOptions = {}): TarEntry[] {
  const archive = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const label = opts.label ?? "tar archive";
  const fail = (offset: number, what: string): never => {
    throw new BeamixError(`${label}: ${what} (tar header at offset ${offset})`);
  };
  const text = (offset: number, raw: Buffer, field: string): string => {
    try {
      return utf8.decode(raw);
    } catch {
      return fail(offset, `${field} is not valid UTF-8`);
    }
  };
  const cstring = (raw: Buffer): Buffer => {
    const nul = raw.indexOf(0);
    return nul < 0 ? raw : raw.subarray(0, nul);
  };
  const octal = (offset: number, block: Buffer, start: number, width: number, field: string): number => {
    const raw = block.subarray(start, start + width);
    if (raw[0] & 0x80) fail(offset, `${field} uses base-256, which is not supported`);
    const s = raw.toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
    if (s === "") return 0;
    if (!/^[0-7]+$/.test(s)) fail(offset, `${field} is not an octal number: ${JSON.stringify(raw.toString("latin1"))}`);
    const value = parseInt(s, 8);
    if (!Number.isSafeInteger(value)) fail(offset, `${field} is too large`);
    return value;
  };

  const entries: TarEntry[] = [];
  let pending: { path?: string; linkpath?: string; size?: number; start: number } | undefined;
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > archive.length) {
      return fail(offset, offset === archive.length ? "missing end-of-archive block" : "truncated header");
    }
    const block = archive.subarray(offset, offset + BLOCK);
    if (block.every((b) => b === 0)) {
      if (pending) fail(pending.start, "extended header not followed by an entry");
      const rest = archive.subarray(offset);
      if (rest.length % BLOCK !== 0 || !rest.every((b) => b === 0)) fail(offset, "data after the end-of-archive block");
      return entries;
    }
    const stored = octal(offset, block, 148, 8, "header checksum");
    const computed = headerChecksum(block);
    if (stored !== computed) {
      fail(offset, `bad header checksum: stored ${stored.toString(8)}, computed ${computed.toString(8)}`);
    }
    // POSIX "ustar\0" + "00" or GNU "ustar  \0"; some old writers put other version bytes.
    const magic = block.subarray(257, 265).toString("latin1");
    if (!magic.startsWith("ustar")) fail(offset, `not a ustar header (magic ${JSON.stringify(magic)})`);
    const posix = magic[5] === "\0"; // only POSIX headers have a prefix field

    const typeflag = String.fromCharCode(block[156]);
    const extended = typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K";
    const headerSize = octal(offset, block, 124, 12, "size");
    const size = extended ? headerSize : (pending?.size ?? headerSize);
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) fail(offset, `data of ${size} bytes runs past the end of the archive`);
    const data = archive.subarray(dataStart, dataStart + size);
    const headerOffset = offset;
    offset = dataStart + size + paddingLength(size);

    if (typeflag === "g") continue; // global PAX records carry defaults (charset, mtime): nothing we use
    if (extended) {
      pending ??= { start: headerOffset };
      if (typeflag === "x") Object.assign(pending, parsePax(data, (what) => fail(headerOffset, what)));
      if (typeflag === "L") pending.path = text(headerOffset, cstring(data), "GNU long name");
      if (typeflag === "K") pending.linkpath = text(headerOffset, cstring(data), "GNU long link name");
      continue;
    }

    let name = pending?.path;
    if (name === undefined) {
      name = text(headerOffset, cstring(block.subarray(0, 100)), "entry name");
      const prefix = posix ? text(headerOffset, cstring(block.subarray(345, 500)), "entry name prefix") : "";
      if (prefix !== "") name = `${prefix}/${name}`;
    }
    const linkname = pending?.linkpath ?? text(headerOffset, cstring(block.subarray(157, 257)), "link name");
    pending = undefined;

    let type: TarEntryType;
    if (typeflag === "0" || typeflag === "\0") type = name.endsWith("/") ? "directory" : "file"; // old tars mark dirs by "/"
    else if (typeflag === "5") type = "directory";
    else if (typeflag === "2") type = "symlink";
    else if (typeflag === "1") type = "hardlink";
    else type = "other";
    if (type === "directory") name = name.replace(/\/+$/, "");

    entries.push({
      name,
      type,
      typeflag,
      mode: octal(headerOffset, block, 100, 8, "mode") & 0o7777,
      size,
      linkname,
      data: type === "file" ? data : Buffer.alloc(0),
      offset: headerOffset,
    });
  }
}

function parsePax(data: Buffer, fail: (what: string) => never): { path?: string; linkpath?: string; size?: number } {
  const out: { path?: string; linkpath?: string; size?: number } = {};
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // some writers pad the record block with NULs
    const space = data.indexOf(0x20, i);
    const length = space < 0 ? NaN : Number(data.subarray(i, space).toString("latin1"));
    if (!Number.isSafeInteger(length) || length <= 0 || i + length > data.length || data[i + length - 1] !== 0x0a) {
      fail("malformed PAX record");
    }
    let record: string;
    try {
      record = utf8.decode(data.subarray(space + 1, i + length - 1));
    } catch {
      return fail("PAX record is not valid UTF-8");
    }
    const eq = record.indexOf("=");
    if (eq < 0) fail("malformed PAX record");
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === "path") out.path = value;
    else if (key === "linkpath") out.linkpath = value;
    else if (key === "size") {
      if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) fail("malformed PAX size");
      out.size = Number(value);
    }
    i += length;
  }
  return out;
}
