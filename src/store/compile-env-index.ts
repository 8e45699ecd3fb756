// The compile-env read sets a store has seen, per basis (src/derivation/compile-env.ts): which
// config keys builds of a package read, so that the final identity of a configured build can be
// found without building. One small JSON file per basis under <store>/.beamix/compile-env/.
//
// The index is a cache: every item records its basis and reads in its deriver, and a basis
// without an index file is rebuilt from the store's items.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import { sortReads, type CompileEnvRecord, type ConfigRead } from "../derivation/compile-env.ts";
import type { Store } from "./store.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";

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
