// Compares two build outputs (a store item and a rebuild, or a local item and a substitute) and
// says whether they are bit-identical, identical but for debug info, or different.
//
// Only what a store item's identity depends on is compared (see store/nar.ts): names, file
// contents, the owner-execute bit and symlink targets. Differing .beam files are compared chunk by
// chunk, because some compilers' debug info is not reproducible even when the code is: Elixir
// writes the Dbgi chunk of a module with a map of more than 32 keys in hash-trie order, which can
// change from run to run while every code chunk stays the same.
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { basename, join } from "node:path";
import { BeamixError } from "../errors.ts";
import { beamModuleName, chunkClass, isDebugInfoChunk, parseBeam, type Beam } from "../erlang/beam.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import { termsEqual } from "../erlang/order.ts";

export type FileDifferenceKind = "only-in-a" | "only-in-b" | "content" | "mode" | "symlink" | "type";

export type NodeType = "regular file" | "directory" | "symlink";

export interface FileDifference {
  path: string; // relative to the compared roots, "/"-separated; "." for the roots themselves
  kind: FileDifferenceKind;
  chunks?: string[]; // "content" of .beam files: ids of the chunks that differ, in file order
  sizes?: { a: number; b: number }; // "content" of files of different sizes
  executable?: { a: boolean; b: boolean }; // "mode"
  targets?: { a: string; b: string }; // "symlink"
  types?: { a: NodeType; b: NodeType }; // "type"
  note?: string; // why a .beam file's chunks do not explain the difference
}

// How a differing debug-info chunk compares once decoded with binary_to_term.
// "equal" means only the encoding differs (e.g. the order a map of more than 32 keys was written in).
export type TermVerdict = "equal" | "different" | "undecodable" | "only-in-a" | "only-in-b";

export interface DebugChunkDifference {
  id: string;
  terms: TermVerdict;
}

// A .beam file whose code chunks are all identical and whose debug-info chunks are not.
export interface DebugInfoDifference {
  path: string;
  module: string;
  chunks: DebugChunkDifference[];
}

export type Comparison =
  | { verdict: "bit-identical" }
  | { verdict: "identical-except-debug-info"; modules: string[]; debugInfo: DebugInfoDifference[] }
  // `debugInfo` lists the modules that differ only in debug info, next to the real differences.
  | { verdict: "differs"; files: FileDifference[]; debugInfo: DebugInfoDifference[] };

function nodeType(st: Stats, path: string): NodeType {
  if (st.isFile()) return "regular file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  throw new BeamixError(`${path}: cannot compare a special file (socket, FIFO or device)`);
}

async function lstatRoot(path: string): Promise<Stats> {
  try {
    return await lstat(path);
  } catch (e) {
    throw new BeamixError(`cannot compare ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

// Names in the order store/nar.ts serializes directory entries: by UTF-8 bytes.
const byUtf8 = (x: string, y: string): number => Buffer.compare(Buffer.from(x, "utf8"), Buffer.from(y, "utf8"));

const isExecutable = (st: Stats): boolean => (st.mode & 0o100) !== 0;

interface Collected {
  files: FileDifference[];
  debugInfo: DebugInfoDifference[];
}

/** Compares the trees at `a` and `b` (directories, or single files/symlinks). */
export async function compareTrees(a: string, b: string): Promise<Comparison> {
  const [sa, sb] = await Promise.all([lstatRoot(a), lstatRoot(b)]);
  const out: Collected = { files: [], debugInfo: [] };
  await compareNodes(a, sa, b, sb, "", out);
  if (out.files.length > 0) return { verdict: "differs", files: out.files, debugInfo: out.debugInfo };
  if (out.debugInfo.length > 0) {
    const modules = [...new Set(out.debugInfo.map((d) => d.module))].sort();
    return { verdict: "identical-except-debug-info", modules, debugInfo: out.debugInfo };
  }
  return { verdict: "bit-identical" };
}

async function compareNodes(pa: string, sa: Stats, pb: string, sb: Stats, rel: string, out: Collected): Promise<void> {
  const ta = nodeType(sa, pa);
  const tb = nodeType(sb, pb);
  const path = rel === "" ? "." : rel;
  if (ta !== tb) {
    out.files.push({ path, kind: "type", types: { a: ta, b: tb } });
    return;
  }
  if (ta === "symlink") {
    const [la, lb] = await Promise.all([readlink(pa), readlink(pb)]);
    if (la !== lb) out.files.push({ path, kind: "symlink", targets: { a: la, b: lb } });
    return;
  }
  if (ta === "directory") {
    const [na, nb] = await Promise.all([readdir(pa), readdir(pb)]);
    const inA = new Set(na);
    const inB = new Set(nb);
    const all = [...new Set([...na, ...nb])].sort(byUtf8);
    for (const name of all) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      if (!inB.has(name)) out.files.push({ path: childRel, kind: "only-in-a" });
      else if (!inA.has(name)) out.files.push({ path: childRel, kind: "only-in-b" });
      else {
        const ca = join(pa, name);
        const cb = join(pb, name);
        const [sca, scb] = await Promise.all([lstat(ca), lstat(cb)]);
        await compareNodes(ca, sca, cb, scb, childRel, out);
      }
    }
    return;
  }
  if (isExecutable(sa) !== isExecutable(sb)) {
    out.files.push({ path, kind: "mode", executable: { a: isExecutable(sa), b: isExecutable(sb) } });
  }
  if (sa.size === sb.size || basename(pa).endsWith(".beam")) {
    const [ba, bb] = await Promise.all([readFile(pa), readFile(pb)]);
    if (ba.equals(bb)) return;
    if (basename(pa).endsWith(".beam")) compareBeams(ba, pa, bb, pb, path, out);
    else out.files.push({ path, kind: "content" });
    return;
  }
  out.files.push({ path, kind: "content", sizes: { a: sa.size, b: sb.size } });
}

// Chunks grouped by id; a well-formed file has each id once, but we do not rely on it.
function byId(beam: Beam): Map<string, Buffer[]> {
  const m = new Map<string, Buffer[]>();
  for (const c of beam.chunks) {
    const list = m.get(c.id);
    if (list) list.push(c.data);
    else m.set(c.id, [c.data]);
  }
  return m;
}

function sameBuffers(x: Buffer[] | undefined, y: Buffer[] | undefined): boolean {
  if (!x || !y) return x === y;
  return x.length === y.length && x.every((b, i) => b.equals(y[i]));
}

function termVerdict(x: Buffer[] | undefined, y: Buffer[] | undefined): TermVerdict {
  if (!y || y.length === 0) return "only-in-a";
  if (!x || x.length === 0) return "only-in-b";
  if (x.length !== y.length) return "different";
  try {
    return x.every((d, i) => termsEqual(binaryToTerm(d), binaryToTerm(y[i]))) ? "equal" : "different";
  } catch (e) {
    // A term we cannot represent (a fun, a bit string), or not a term at all.
    if (e instanceof BeamixError) return "undecodable";
    throw e;
  }
}

function compareBeams(ba: Buffer, pa: string, bb: Buffer, pb: string, path: string, out: Collected): void {
  let beamA: Beam;
  let beamB: Beam;
  try {
    beamA = parseBeam(ba, pa);
    beamB = parseBeam(bb, pb);
  } catch (e) {
    if (!(e instanceof BeamixError)) throw e;
    out.files.push({ path, kind: "content", note: `chunks not compared: ${e.message}` });
    return;
  }
  const ma = byId(beamA);
  const mb = byId(beamB);
  const ids = [...new Set([...beamA.chunks.map((c) => c.id), ...beamB.chunks.map((c) => c.id)])];
  const differing = ids.filter((id) => !sameBuffers(ma.get(id), mb.get(id)));
  // The loader looks chunks up by id, but a different order of the code chunks is still not
  // "the same file but for debug info".
  const codeOrder = (beam: Beam): string => beam.chunks.filter((c) => !isDebugInfoChunk(c.id)).map((c) => c.id).join(",");
  const sameLayout = codeOrder(beamA) === codeOrder(beamB);
  if (differing.length > 0 && sameLayout && differing.every(isDebugInfoChunk)) {
    out.debugInfo.push({
      path,
      module: beamModuleName(beamA) ?? beamModuleName(beamB) ?? basename(path, ".beam"),
      chunks: differing.map((id) => ({ id, terms: termVerdict(ma.get(id), mb.get(id)) })),
    });
    return;
  }
  const diff: FileDifference = { path, kind: "content", chunks: differing };
  if (!sameLayout) diff.note = "chunk order differs";
  else if (differing.length === 0) diff.note = "same chunks, different container bytes (order of debug-info chunks or padding)";
  out.files.push(diff);
}

export interface FormatOptions {
  // What to call the two sides, e.g. { a: "store", b: "rebuild" }.
  labels?: { a: string; b: string };
}

/** Human-readable lines describing a comparison, first line the verdict. */
export function formatComparison(c: Comparison, opts: FormatOptions = {}): string[] {
  const la = opts.labels?.a ?? "a";
  const lb = opts.labels?.b ?? "b";
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
  const termWords = (t: TermVerdict): string =>
    ({ equal: "same terms, encoded differently", different: "different terms", undecodable: "not decodable", "only-in-a": `only in ${la}`, "only-in-b": `only in ${lb}` })[t];
  const debugLines = (ds: DebugInfoDifference[]): string[] =>
    ds.map((d) => `  ${d.module} (${d.path}): ${d.chunks.map((ch) => `${ch.id} (${termWords(ch.terms)})`).join(", ")}`);
  const fileLine = (f: FileDifference): string => {
    const extra: string[] = [];
    if (f.chunks && f.chunks.length > 0) extra.push(`chunks ${f.chunks.map((id) => (chunkClass(id) === "code" ? id : `${id} (${chunkClass(id)})`)).join(", ")}`);
    if (f.sizes) extra.push(`${la}: ${f.sizes.a} bytes, ${lb}: ${f.sizes.b} bytes`);
    if (f.executable) {
      const word = (x: boolean): string => (x ? "executable" : "not executable");
      extra.push(`${la}: ${word(f.executable.a)}, ${lb}: ${word(f.executable.b)}`);
    }
    if (f.targets) extra.push(`${la} -> ${f.targets.a}, ${lb} -> ${f.targets.b}`);
    if (f.types) extra.push(`${la}: ${f.types.a}, ${lb}: ${f.types.b}`);
    if (f.note) extra.push(f.note);
    const head = f.kind === "only-in-a" ? `only in ${la}` : f.kind === "only-in-b" ? `only in ${lb}` : f.kind;
    return `  ${head}: ${f.path}${extra.length > 0 ? ` (${extra.join("; ")})` : ""}`;
  };
  switch (c.verdict) {
    case "bit-identical":
      return ["bit-identical"];
    case "identical-except-debug-info":
      return [`identical except debug info of ${plural(c.modules.length, "module")}: ${c.modules.join(", ")}`, ...debugLines(c.debugInfo)];
    case "differs": {
      const lines = [`differs: ${plural(new Set(c.files.map((f) => f.path)).size, "path")}`, ...c.files.map(fileLine)];
      if (c.debugInfo.length > 0) lines.push(`also differing only in debug info: ${plural(c.debugInfo.length, "module")}`, ...debugLines(c.debugInfo));
      return lines;
    }
  }
}
