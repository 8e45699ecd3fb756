// mix.lock, read without evaluating it and written byte for byte as Mix writes it.
//
// Mix 1.14 writes (Mix.Dep.Lock.write/2): "%{\n", then for each entry sorted by app name
// `  "APP": <inspect(entry, limit: :infinity)>,\n`, then "}\n". Entries whose value is nil are
// left out. inspect is one line whatever its length.
//
// Hex entry shapes accepted (Hex reads any of them, filling the missing tail with nil):
//   Hex <= 0.11        {:hex, :pkg, "1.0.0"}
//   Hex 0.12 - 0.15    {:hex, :pkg, "1.0.0", "inner", [:mix], [deps]}        deps opts [hex:, optional:]
//   Hex 0.16 - 0.20    ... plus "repo" (7 elements)                          deps opts [hex:, repo:, optional:]
//   Hex >= 0.21 (2020) ... plus "outer checksum" (8 elements)
// (and the 4- and 5-element prefixes, which read the same way). A missing repo means "hexpm".
// Git entries are Mix's `{:git, "url", "rev", [branch:/tag:/ref:/sparse:/subdir:/submodules:]}`.
// Any other value, or a hex/git tuple whose fields do not have the expected types, is kept as
// an OtherLockEntry holding the raw term, so that reading and writing round-trips.
import { readFile, readlink } from "node:fs/promises";
import { BeamixError, errorMessage } from "../errors.ts";
import { compareCodePoints } from "../erlang/order.ts";
import type { Term } from "../erlang/term.ts";
import { inspectElixir } from "../elixir/inspect.ts";
import { parseElixirLiteral } from "../elixir/literal.ts";

export interface LockDep {
  app: string; // OTP application name
  requirement: string;
  package: string; // Hex package name (`hex:` option)
  repo?: string; // absent in locks written before Hex 0.16 (meaning "hexpm")
  optional: boolean;
}

export interface HexLockEntry {
  kind: "hex";
  app: string;
  package: string;
  version: string;
  // Fields below are absent when the lock was written by an older Hex (see above).
  innerChecksum?: string; // lowercase hex SHA-256 of VERSION ‖ metadata.config ‖ contents.tar.gz
  managers?: string[]; // build tools: "mix", "rebar3", "make"
  deps?: LockDep[];
  repo?: string;
  outerChecksum?: string; // lowercase hex SHA-256 of the whole tarball
}

export interface GitLockEntry {
  kind: "git";
  app: string;
  url: string;
  rev: string;
  opts: [string, Term][]; // keyword list as written, e.g. [["branch", <<"main">>]]
}

export interface OtherLockEntry {
  kind: "other";
  app: string;
  value: Term;
}

export type MixLockEntry = HexLockEntry | GitLockEntry | OtherLockEntry;

// Keyed by app name.
export type MixLock = Map<string, MixLockEntry>;

// The repository a hex entry comes from, as Hex reads it.
export const lockEntryRepo = (e: HexLockEntry): string => e.repo ?? "hexpm";

// ---------------------------------------------------------------------------------------------

const atom = (value: string): Term => ({ type: "atom", value });
const bin = (value: string): Term => ({ type: "binary", value: Buffer.from(value, "utf8") });
const list = (items: Term[]): Term => ({ type: "list", items });
const tuple = (items: Term[]): Term => ({ type: "tuple", items });

function textOf(t: Term | undefined): string | null {
  if (t?.type !== "binary") return null;
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(t.value);
  } catch {
    return null;
  }
}

const atomOf = (t: Term | undefined): string | null => (t?.type === "atom" ? t.value : null);

function properItems(t: Term | undefined): Term[] | null {
  if (t?.type !== "list" || t.tail !== undefined) return null;
  return t.items;
}

// A keyword list as [key, value] pairs, or null if t is not one.
function keywordOf(t: Term | undefined): [string, Term][] | null {
  const items = properItems(t);
  if (items === null) return null;
  const out: [string, Term][] = [];
  for (const it of items) {
    if (it.type !== "tuple" || it.items.length !== 2 || it.items[0].type !== "atom") return null;
    out.push([it.items[0].value, it.items[1]]);
  }
  return out;
}

function boolOf(t: Term | undefined): boolean | null {
  const a = atomOf(t);
  return a === "true" ? true : a === "false" ? false : null;
}

function depOf(t: Term): LockDep | null {
  if (t.type !== "tuple" || t.items.length !== 3) return null;
  const app = atomOf(t.items[0]);
  const requirement = textOf(t.items[1]);
  const opts = keywordOf(t.items[2]);
  if (app === null || requirement === null || opts === null) return null;
  const keys = opts.map(([k]) => k).join(",");
  if (keys === "hex,repo,optional") {
    const pkg = atomOf(opts[0][1]);
    const repo = textOf(opts[1][1]);
    const optional = boolOf(opts[2][1]);
    if (pkg === null || repo === null || optional === null) return null;
    return { app, requirement, package: pkg, repo, optional };
  }
  if (keys === "hex,optional") {
    const pkg = atomOf(opts[0][1]);
    const optional = boolOf(opts[1][1]);
    if (pkg === null || optional === null) return null;
    return { app, requirement, package: pkg, optional };
  }
  return null;
}

function hexEntryOf(app: string, items: Term[]): HexLockEntry | null {
  if (items.length < 3 || items.length > 8) return null;
  const pkg = atomOf(items[1]);
  const version = textOf(items[2]);
  if (pkg === null || version === null) return null;
  const e: HexLockEntry = { kind: "hex", app, package: pkg, version };
  if (items.length > 3) {
    const inner = textOf(items[3]);
    if (inner === null) return null;
    e.innerChecksum = inner;
  }
  if (items.length > 4) {
    const managers = properItems(items[4])?.map(atomOf);
    if (managers === undefined || managers.some((m) => m === null)) return null;
    e.managers = managers as string[];
  }
  if (items.length > 5) {
    const deps = properItems(items[5])?.map(depOf);
    if (deps === undefined || deps.some((d) => d === null)) return null;
    e.deps = deps as LockDep[];
  }
  if (items.length > 6) {
    const repo = textOf(items[6]);
    if (repo === null) return null;
    e.repo = repo;
  }
  if (items.length > 7) {
    const outer = textOf(items[7]);
    if (outer === null) return null;
    e.outerChecksum = outer;
  }
  return e;
}

function gitEntryOf(app: string, items: Term[]): GitLockEntry | null {
  if (items.length !== 4) return null;
  const url = textOf(items[1]);
  const rev = textOf(items[2]);
  const opts = keywordOf(items[3]);
  if (url === null || rev === null || opts === null) return null;
  return { kind: "git", app, url, rev, opts };
}

export function lockEntryFromTerm(app: string, value: Term): MixLockEntry {
  if (value.type === "tuple") {
    const tag = atomOf(value.items[0]);
    const typed = tag === "hex" ? hexEntryOf(app, value.items) : tag === "git" ? gitEntryOf(app, value.items) : null;
    if (typed !== null) return typed;
  }
  return { kind: "other", app, value };
}

export function lockEntryToTerm(e: MixLockEntry): Term {
  switch (e.kind) {
    case "other":
      return e.value;
    case "git":
      return tuple([atom("git"), bin(e.url), bin(e.rev), list(e.opts.map(([k, v]) => tuple([atom(k), v])))]);
    case "hex": {
      const tail: (Term | undefined)[] = [
        e.innerChecksum === undefined ? undefined : bin(e.innerChecksum),
        e.managers === undefined ? undefined : list(e.managers.map(atom)),
        e.deps === undefined ? undefined : list(e.deps.map(lockDepToTerm)),
        e.repo === undefined ? undefined : bin(e.repo),
        e.outerChecksum === undefined ? undefined : bin(e.outerChecksum),
      ];
      let n = tail.length;
      while (n > 0 && tail[n - 1] === undefined) n--;
      // A field missing before a present one is written as nil, which Hex reads as missing.
      const items = [atom("hex"), atom(e.package), bin(e.version), ...tail.slice(0, n).map((t) => t ?? atom("nil"))];
      return tuple(items);
    }
  }
}

export function lockDepToTerm(d: LockDep): Term {
  const opts: Term[] = [tuple([atom("hex"), atom(d.package)])];
  if (d.repo !== undefined) opts.push(tuple([atom("repo"), bin(d.repo)]));
  opts.push(tuple([atom("optional"), atom(d.optional ? "true" : "false")]));
  return tuple([atom(d.app), bin(d.requirement), list(opts)]);
}

// ---------------------------------------------------------------------------------------------

export function parseMixLock(text: string, file = "mix.lock"): MixLock {
  // Mix refuses a lock with merge conflict markers before parsing; so do we, with its reason.
  if (/<<<<<<<|=======|>>>>>>>/.test(text)) {
    throw new BeamixError(`${file} contains merge conflicts; resolve them and run the command again`);
  }
  const lock: MixLock = new Map();
  // An empty file is an empty lock, as for Mix.
  if (text.trim() === "") return lock;
  const term = parseElixirLiteral(text, file);
  if (term.type !== "map") throw new BeamixError(`${file}: expected a map %{...} at the top level, found a ${term.type}`);
  for (const [k, v] of term.entries) {
    const app = k.type === "atom" ? k.value : textOf(k);
    if (app === null) throw new BeamixError(`${file}: a lock key must be an app name, found ${inspectElixir(k)}`);
    if (lock.has(app)) throw new BeamixError(`${file}: app ${app} appears twice`);
    lock.set(app, lockEntryFromTerm(app, v));
  }
  return lock;
}

// A missing mix.lock is an empty lock, as for Mix. One that cannot be read (a directory, a link
// to nothing, no permission) is an error naming it: reading it as empty would drop every pin.
export async function readMixLockFile(path: string): Promise<MixLock> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      const target = await readlink(path).catch(() => undefined);
      if (target === undefined) return new Map();
      throw new BeamixError(`${path}: a symbolic link to ${target}, which does not exist`);
    }
    if (code === "EISDIR") throw new BeamixError(`${path}: a directory, not a lock file`);
    throw new BeamixError(`cannot read ${path}: ${code ?? errorMessage(e)}`);
  }
  return parseMixLock(text, path);
}

// Keys are written as Mix writes the atoms it reads back: `"app": `, in code point order
// (a lock that used `"app" => ...` string keys comes out in this form too).
export function formatMixLock(lock: MixLock): string {
  const apps = [...lock.keys()].sort(compareCodePoints);
  let out = "%{\n";
  for (const app of apps) {
    const e = lock.get(app)!;
    if (e.app !== app) throw new BeamixError(`mix.lock entry for ${e.app} is stored under the key ${app}`);
    // Mix writes the key with to_string/1, unescaped: such a name would not read back.
    if (/["\\\n]|#\{/.test(app)) throw new BeamixError(`cannot write app name ${JSON.stringify(app)} into mix.lock`);
    const value = lockEntryToTerm(e);
    if (value.type === "atom" && value.value === "nil") continue;
    out += `  "${app}": ${inspectElixir(value)},\n`;
  }
  return out + "}\n";
}
