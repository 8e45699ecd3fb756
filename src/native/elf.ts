// What an ELF object needs from the dynamic loader, read from its program headers the way the
// loader reads them (no section headers: a stripped library has none): the PT_DYNAMIC segment's
// DT_NEEDED, DT_RPATH, DT_RUNPATH and DT_SONAME, and the GLIBC_x.y versions its DT_VERNEED
// entries ask of libc. Every offset and count is checked against the file, so a malformed or
// hostile file gives an ElfError, never an out-of-bounds read or an endless walk.
export class ElfError extends Error {}

export interface ElfFacts {
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number; // e_machine (62: x86-64, 183: AArch64)
  type: number; // e_type (2: executable, 3: shared object)
  needed: string[]; // DT_NEEDED, in order
  rpath: string[]; // DT_RPATH, split at ':'
  runpath: string[]; // DT_RUNPATH, split at ':'
  soname?: string;
  glibc?: string; // the highest GLIBC_x.y symbol version it needs, if any
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29, VERNEED: 0x6ffffffe, VERNEEDNUM: 0x6fffffff };
const MAX_VERNEED = 4096; // entries and auxiliaries walked at most: far above any real library

export const isElf = (head: Buffer): boolean => head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;

class Reader {
  readonly buf: Buffer;
  readonly le: boolean;
  readonly bits: 32 | 64;
  constructor(buf: Buffer, le: boolean, bits: 32 | 64) {
    this.buf = buf;
    this.le = le;
    this.bits = bits;
  }
  private need(off: number, n: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + n > this.buf.length) throw new ElfError(`truncated: ${n} bytes at offset ${off} are past the end of the file (${this.buf.length} bytes)`);
  }
  u16(off: number): number {
    this.need(off, 2);
    return this.le ? this.buf.readUInt16LE(off) : this.buf.readUInt16BE(off);
  }
  u32(off: number): number {
    this.need(off, 4);
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }
  u64(off: number): number {
    this.need(off, 8);
    const v = this.le ? this.buf.readBigUInt64LE(off) : this.buf.readBigUInt64BE(off);
    // Larger values cannot be offsets or addresses of this file; tags above 2^53 are not ones we read.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  word(off: number): number {
    return this.bits === 64 ? this.u64(off) : this.u32(off);
  }
  cstr(off: number, limit: number): string {
    this.need(off, 1);
    const end = this.buf.indexOf(0, off);
    if (end < 0 || end >= limit) throw new ElfError(`unterminated string at offset ${off}`);
    return this.buf.toString("latin1", off, end);
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

export function readElf(buf: Buffer): ElfFacts {
  if (!isElf(buf)) throw new ElfError("not an ELF file (no \\x7fELF magic)");
  if (buf.length < 52) throw new ElfError("truncated ELF header");
  const bits = buf[4] === 1 ? 32 : buf[4] === 2 ? 64 : undefined;
  const le = buf[5] === 1 ? true : buf[5] === 2 ? false : undefined;
  if (bits === undefined || le === undefined) throw new ElfError(`unknown ELF class ${buf[4]} or data encoding ${buf[5]}`);
  const r = new Reader(buf, le, bits);
  const type = r.u16(16);
  const machine = r.u16(18);
  const phoff = bits === 64 ? r.u64(32) : r.u32(28);
  const phentsize = r.u16(bits === 64 ? 54 : 42);
  const phnum = r.u16(bits === 64 ? 56 : 44);
  if (phnum > 0 && phentsize < (bits === 64 ? 56 : 32)) throw new ElfError(`program header entries of ${phentsize} bytes are too small`);
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    segments.push(
      bits === 64
        ? { type: r.u32(o), offset: r.u64(o + 8), vaddr: r.u64(o + 16), filesz: r.u64(o + 32) }
        : { type: r.u32(o), offset: r.u32(o + 4), vaddr: r.u32(o + 8), filesz: r.u32(o + 16) },
    );
  }
  const facts: ElfFacts = { bits, littleEndian: le, machine, type, needed: [], rpath: [], runpath: [] };
  const dyn = segments.find((s) => s.type === PT_DYNAMIC);
  if (!dyn) return facts; // statically linked: needs nothing from the loader

  // Addresses in the dynamic section are virtual; the loadable segments map them to the file.
  const fileOffset = (addr: number, what: string): number => {
    const s = segments.find((l) => l.type === PT_LOAD && addr >= l.vaddr && addr < l.vaddr + l.filesz);
    if (!s) throw new ElfError(`the ${what} address 0x${addr.toString(16)} is in no loadable segment`);
    return s.offset + (addr - s.vaddr);
  };
  const entSize = bits === 64 ? 16 : 8;
  const tags: { tag: number; val: number }[] = [];
  for (let o = dyn.offset; o + entSize <= dyn.offset + dyn.filesz; o += entSize) {
    const tag = r.word(o);
    if (tag === DT.NULL) break;
    tags.push({ tag, val: r.word(o + entSize / 2) });
  }
  const one = (tag: number) => tags.find((t) => t.tag === tag)?.val;
  const strtabAddr = one(DT.STRTAB);
  const needsStrings = tags.some((t) => [DT.NEEDED, DT.SONAME, DT.RPATH, DT.RUNPATH].includes(t.tag)) || one(DT.VERNEED) !== undefined;
  if (!needsStrings) return facts;
  if (strtabAddr === undefined) throw new ElfError("the dynamic section has no DT_STRTAB");
  const strtab = fileOffset(strtabAddr, "string table");
  const strEnd = Math.min(buf.length, strtab + (one(DT.STRSZ) ?? buf.length));
  const str = (i: number) => r.cstr(strtab + i, strEnd);
  for (const t of tags) {
    if (t.tag === DT.NEEDED) facts.needed.push(str(t.val));
    else if (t.tag === DT.SONAME) facts.soname = str(t.val);
    else if (t.tag === DT.RPATH) facts.rpath.push(...str(t.val).split(":").filter(Boolean));
    else if (t.tag === DT.RUNPATH) facts.runpath.push(...str(t.val).split(":").filter(Boolean));
  }

  const verneed = one(DT.VERNEED);
  if (verneed !== undefined) {
    let count = Math.min(one(DT.VERNEEDNUM) ?? MAX_VERNEED, MAX_VERNEED);
    let entry = fileOffset(verneed, "version-needed table");
    let walked = 0;
    while (count-- > 0) {
      let auxCount = r.u16(entry + 2);
      let aux = entry + r.u32(entry + 8);
      while (auxCount-- > 0 && walked++ < MAX_VERNEED) {
        const name = str(r.u32(aux + 8));
        const m = /^GLIBC_(\d+(?:\.\d+)+)$/.exec(name);
        // GLIBC_ versions of libc, libm, libpthread...: all are the C library's.
        if (m && (facts.glibc === undefined || compareDotted(m[1], facts.glibc) > 0)) facts.glibc = m[1];
        const next = r.u32(aux + 12);
        if (next === 0) break;
        aux += next;
      }
      const next = r.u32(entry + 12);
      if (next === 0) break;
      entry += next;
    }
  }
  return facts;
}

// Compares versions like "2.17" and "2.3.4" part by part, numerically.
export function compareDotted(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
