// Compile-time configuration of dependencies, keyed by what each package actually reads.
//
// Mix compiles a dependency with the top-level project's configuration, and Elixir records
// every `Application.compile_env` read in the `.app` it writes:
//   {compile_env, [{App, [Key | SubKeys], {ok, Value} | error}, ...]}
// The output of a build depends on the configuration only through those reads (a read's
// result steers everything the build does with it). So the identity of a package built for a
// project covers the project's values at exactly the keys the package reads, and nothing
// else: changing config that a package reads rebuilds it (and, through the input hashes, its
// dependents); changing config nobody reads at compile time rebuilds nothing.
//
// The keys are only known after a build, so identities are found in two steps:
//
//   basis   = hash of the derivation with no project config at all (name, version, source,
//             build system, toolchain, inputs' final hashes, the definition's own arguments)
//   reads   = the (app, key) pairs the package's build read: an index in the store,
//             <store>/.beamix/compile-env/<basis>.json, lists every set seen for this basis
//   final   = the derivation whose compileConfig is the project's config (merged over the
//             definition's own) restricted to `reads`; its hash names the store item.
//
// To realize a package: for each read set of its basis, compute the final hash and look in
// the store. If none is there, build it once with the whole project config, read the
// compile_env of the `.app` it produced, and register the output under the final hash of
// exactly those reads (the output depends only on what was read, so any project that agrees
// on those values may use it). This is sound for every recorded set: an item registered under
// (basis, values at R) was made by a build that read exactly R, and a build with any config
// that agrees at R would read R again and produce the same output.
//
// Granularity is the top-level key: a read of [key, sub] covers the whole value of key (more
// rebuilds than strictly needed, never fewer). Reads that bypass compile_env
// (Application.get_env in a module body, which Elixir warns about) are invisible here, as they
// are to Mix.
//
// The index is a cache: items record their basis and reads in their deriver, and a basis
// without an index file is rebuilt from the store's items.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import { canonicalSha256 } from "../derivation/canonical.ts";
import { compareCodePoints } from "../derivation/canonical.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { derivationIdentity, type Derivation } from "../derivation/derivation.ts";
import { parseTerms } from "../erlang/parse.ts";
import { listView, unwrap, type Term } from "../erlang/term.ts";
import type { Store } from "../store/store.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";

// One compile-time read: an application and the top-level key of its environment.
export interface ConfigRead {
  app: string;
  key: string;
}

const atomOf = (t: Term): string | null => {
  const u = unwrap(t);
  return u.type === "atom" ? u.value : null;
};

// Sorted and without duplicates: the canonical form of a read set.
export function sortReads(reads: readonly ConfigRead[]): ConfigRead[] {
  const seen = new Map<string, ConfigRead>();
  for (const r of reads) seen.set(`${r.app}\0${r.key}`, r);
  return [...seen.values()].sort((a, b) => compareCodePoints(a.app, b.app) || compareCodePoints(a.key, b.key));
}

// The compile_env reads recorded in the text of an application resource file.
export function compileEnvReads(appFileText: string, file: string): ConfigRead[] {
  const terms = parseTerms(appFileText, file);
  const app = terms.length === 1 ? unwrap(terms[0]) : null;
  if (!app || app.type !== "tuple" || app.items.length !== 3) throw new BeamixError(`${file}: not an application resource file`);
  const props = listView(unwrap(app.items[2]));
  if (!props || props.tail !== null) throw new BeamixError(`${file}: the application's properties are not a list`);
  const reads: ConfigRead[] = [];
  for (const p of props.items) {
    const u = unwrap(p);
    if (u.type !== "tuple" || u.items.length !== 2 || atomOf(u.items[0]) !== "compile_env") continue;
    const entries = listView(unwrap(u.items[1]));
    if (!entries || entries.tail !== null) throw new BeamixError(`${file}: compile_env is not a list`);
    for (const e of entries.items) {
      const t = unwrap(e);
      const path = t.type === "tuple" && t.items.length === 3 ? listView(unwrap(t.items[1])) : null;
      const readApp = t.type === "tuple" ? atomOf(t.items[0]) : null;
      const key = path && path.items.length > 0 ? atomOf(path.items[0]) : null;
      if (readApp === null || key === null) throw new BeamixError(`${file}: unexpected compile_env entry`);
      reads.push({ app: readApp, key });
    }
  }
  return sortReads(reads);
}

// The part of `config` at the given reads; keys the config lacks stay absent (an absent key is
// a value too: adding it later changes the identity).
export function restrictConfig(config: CompileConfig, reads: readonly ConfigRead[]): CompileConfig {
  const out: CompileConfig = {};
  // Own properties only: read sets may come from a cache's hint, and a read of "__proto__" or
  // "constructor" must not reach Object.prototype.
  for (const { app, key } of reads) {
    const entries = Object.hasOwn(config, app) ? config[app] : undefined;
    if (entries && Object.hasOwn(entries, key)) {
      if (!Object.hasOwn(out, app)) Object.defineProperty(out, app, { value: {}, enumerable: true, writable: true, configurable: true });
      Object.defineProperty(out[app], key, { value: entries[key], enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

// The config-independent identity of a package build: its derivation with the definition's
// own config only. Tagged so it can never equal a real derivation hash.
export function configBasisHash(basis: Derivation): string {
  return canonicalSha256({ format: "beamix-compile-env-basis/1", derivation: derivationIdentity(basis) });
}

// What a store item's deriver records about its config, so the index can be rebuilt.
export interface CompileEnvRecord {
  basis: string;
  reads: ConfigRead[];
}

export interface CompileEnvEntry {
  name: string;
  version: string;
  readSets: ConfigRead[][];
}

interface IndexFile {
  format: "beamix-compile-env/1";
  name: string;
  version: string;
  readSets: [string, string][][];
}

const HASH = /^[0-9a-f]{64}$/;

// The read sets seen per basis, one small JSON file each. Written only while holding the
// basis's build lock, so a read-modify-write never loses a set.
export class CompileEnvIndex {
  readonly dir: string;
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
    this.dir = join(store.dir, ".beamix", "compile-env");
  }

  private file(basis: string): string {
    if (!HASH.test(basis)) throw new BeamixError(`invalid compile-env basis ${JSON.stringify(basis)}`);
    return join(this.dir, `${basis}.json`);
  }

  private async readFileEntry(basis: string): Promise<CompileEnvEntry | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(basis), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let parsed: IndexFile;
    try {
      parsed = JSON.parse(text) as IndexFile;
    } catch {
      return undefined; // a damaged cache entry: fall back to the store
    }
    if (parsed?.format !== "beamix-compile-env/1" || !Array.isArray(parsed.readSets)) return undefined;
    return { name: parsed.name, version: parsed.version, readSets: parsed.readSets.map((set) => set.map(([app, key]) => ({ app, key }))) };
  }

  // Read sets recorded by the items of the store (their derivers), for a basis the index lost.
  // Only the items whose deriver mentions the basis are read (not the whole store, per package).
  private fromStore(basis: string): CompileEnvEntry | undefined {
    const sets = new Map<string, ConfigRead[]>();
    let pkg: { name: string; version: string } | undefined;
    for (const item of this.store.listItemsMentioning(basis)) {
      const rec = (item.deriver as { compileEnv?: CompileEnvRecord } | null)?.compileEnv;
      if (rec?.basis !== basis || !Array.isArray(rec.reads)) continue;
      const reads = sortReads(rec.reads);
      sets.set(JSON.stringify(reads), reads);
      pkg ??= { name: item.name, version: item.version };
    }
    return pkg && { ...pkg, readSets: [...sets.values()] };
  }

  // What is known of a basis: the package and every read set seen; undefined when nothing is.
  async entry(basis: string): Promise<CompileEnvEntry | undefined> {
    return (await this.readFileEntry(basis)) ?? this.fromStore(basis);
  }

  async readSets(basis: string): Promise<ConfigRead[][]> {
    return (await this.entry(basis))?.readSets ?? [];
  }

  // Adds a read set (the caller holds the basis's build lock).
  async record(basis: string, reads: readonly ConfigRead[], pkg: { name: string; version: string }): Promise<void> {
    const sets = await this.readSets(basis);
    const sorted = sortReads([...reads]);
    const key = JSON.stringify(sorted);
    if (!sets.some((s) => JSON.stringify(sortReads(s)) === key)) sets.push(sorted);
    const file: IndexFile = {
      format: "beamix-compile-env/1",
      name: pkg.name,
      version: pkg.version,
      readSets: sets.map((s) => sortReads(s).map((r): [string, string] => [r.app, r.key])),
    };
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(basis), JSON.stringify(file, null, 1) + "\n");
  }
}
