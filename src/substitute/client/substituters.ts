// The client side: asking caches for a store item instead of building it.
//
// For one derivation, every usable cache is asked for its record at once; the answers are then
// tried in priority order (beamix-cache-info, lower first; ties in the order given). A candidate
// is accepted only when the record names exactly the wanted item, carries enough signatures by
// trusted keys, its references are (or can be made) valid in the store, and the archive streams in
// with the file hash and size, and the tree hash and size, the record states. The tree is restored
// into a staging directory of the store and registered only after all of that held, so nothing
// unverified is ever registered; a process killed mid-download leaves only the staging directory,
// which the store's recovery removes.
//
// Every rejection is reported as one line naming the item, the cache and the reason, and the next
// candidate takes over. The caller decides what happens when none succeeds (realize.ts: build).
import { lstat, mkdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { Store, StoreItem, TreeHash } from "../../store/store.ts";
import type { TreeStats } from "../../store/nar.ts";
import { removeTree } from "../../store/perms.ts";
import { derivationHash, type Derivation } from "../../derivation/derivation.ts";
import { derivationFromJson, derivationToJson } from "../../derivation/serialize.ts";
import { checkArchiveSize, unpackArchive } from "../format/archive.ts";
import { getBytes, type CacheBackend, type GetOptions } from "../backends/backend.ts";
import { MAX_CACHE_INFO_BYTES, parseCacheInfo } from "../format/cache-info.ts";
import { DEFAULT_DEADLINE_MS, DEFAULT_IDLE_TIMEOUT_MS } from "../backends/http-backend.ts";
import type { PublicKey, SignaturesTrust } from "../../signing/keys.ts";
import { CACHE_INFO_KEY, recordKey } from "../format/layout.ts";
import { openCache } from "../backends/open-cache.ts";
import { readHint } from "../format/compile-env-hints.ts";
import { readSharedAnswers, verifySharedAnswers } from "../format/mix-answers.ts";
import { readDepsRecord, readPack, verifyDepsRecord } from "../format/deps-record.ts";
import type { SignedDocument } from "../format/signed-document.ts";
import type { ConfigRead } from "../../derivation/compile-env.ts";
import { loadProblems, nativeFactsOfTree, treeLoadProblems, type NativeFacts } from "../../native/native-facts.ts";
import { DRV_HASH_RE, ITEM_NAME_RE, itemName, MAX_RECORD_BYTES, parseRecord, verifyRecord, type SubstituteRecord } from "../format/record.ts";

export interface SubstitutersConfig {
  urls?: readonly string[];
  backends?: readonly CacheBackend[]; // in addition to urls (object stores, tests)
  trustedKeys: readonly PublicKey[];
  requireSigs?: number; // distinct trusted signatures a record needs (default 1; 0 trusts any record)
  timeoutMs?: number; // give up on a request after this long without data (default 30 s)
  // ...or when a record takes longer than this in all (default 60 s); an archive gets this plus a
  // second per 64 KiB of its signed size, so a cache dripping bytes cannot hold a build.
  deadlineMs?: number;
  report?: (line: string) => void; // one line per rejected candidate or unusable cache
}

export interface WantedItem {
  drvHash: string;
  name: string;
  version: string;
}

export type SubstituteAttempt =
  // references: store paths; tree: the restored tree's hash and size (verified against the record)
  // native: what the restored tree's ELF files need (src/native/native-facts.ts), when it has any
  | { status: "substituted"; url: string; record: SubstituteRecord; references: string[]; tree: TreeHash; native?: NativeFacts }
  | { status: "absent" } // no cache has a trusted record of it
  | { status: "failed"; message: string }; // trusted records exist, but no download could be verified

interface Cache {
  backend: CacheBackend;
  priority: number;
  index: number;
}

interface Candidate {
  cache: Cache;
  record?: SubstituteRecord;
  error?: string;
}

export interface LookupResult {
  url: string;
  priority: number;
  record?: SubstituteRecord;
  trusted?: boolean; // with a record: enough trusted signatures?
  untrustedReason?: string;
  error?: string; // the cache could not answer (server error, time-out, malformed record)
}

interface Trusted {
  cache: Cache;
  record: SubstituteRecord;
}

// Per call: where rejection lines go (default: the configured report), and the items being
// substituted further up (to refuse reference cycles).
export interface CallContext {
  report?: (line: string) => void;
  chain?: readonly string[];
  // "ensure" (default): references missing from the store are substituted first. "as-recorded":
  // the record's references are only named, for a caller that makes them valid itself before
  // registering (realize, which downloads an item while its dependencies are still on their way).
  references?: "ensure" | "as-recorded";
}

export const label = (w: { name: string; version: string }) => `${w.name} ${w.version}`;

export class Substituters {
  private readonly backends: CacheBackend[];
  private readonly trustedKeys: readonly PublicKey[];
  private readonly requireSigs: number;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly report: (line: string) => void;
  private cachesPromise: Promise<Cache[]> | undefined;
  private readonly queries = new Map<string, Promise<Candidate[]>>();
  private readonly hints = new Map<string, Promise<ConfigRead[][]>>();

  constructor(config: SubstitutersConfig) {
    this.backends = [...(config.urls ?? []).map((u) => openCache(u)), ...(config.backends ?? [])];
    this.trustedKeys = config.trustedKeys;
    this.requireSigs = config.requireSigs ?? 1;
    this.timeoutMs = config.timeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.deadlineMs = config.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.report = config.report ?? (() => {});
    if (!Number.isInteger(this.requireSigs) || this.requireSigs < 0) throw new BeamixError(`require-sigs must be a non-negative integer, not ${this.requireSigs}`);
  }

  get urls(): string[] {
    return this.backends.map((b) => b.url);
  }

  // The usable caches in the order to try them. A cache whose beamix-cache-info cannot be read is
  // reported once and left out for the rest of the session.
  caches(report = this.report): Promise<Cache[]> {
    this.cachesPromise ??= (async () => {
      if (this.backends.length === 0) return [];
      if (this.requireSigs > 0 && this.trustedKeys.length === 0) {
        report(`not using substituters (${this.urls.join(", ")}): no trusted public keys (beamix key authorize FILE, or --trusted-key FILE)`);
        return [];
      }
      const found = await Promise.all(
        this.backends.map(async (backend, index): Promise<Cache | undefined> => {
          try {
            const text = await getBytes(backend, CACHE_INFO_KEY, MAX_CACHE_INFO_BYTES, { idleTimeoutMs: this.timeoutMs, deadlineMs: this.deadlineMs });
            if (!text) throw new BeamixError(`no ${CACHE_INFO_KEY}: not a beamix cache`);
            const info = parseCacheInfo(text.toString("utf8"), CACHE_INFO_KEY);
            return { backend, priority: info.priority, index };
          } catch (err) {
            report(`not using substituter ${backend.url}: ${errorMessage(err)}`);
            return undefined;
          }
        }),
      );
      return found.filter((c): c is Cache => c !== undefined).sort((a, b) => a.priority - b.priority || a.index - b.index);
    })();
    return this.cachesPromise;
  }

  // Every usable cache's record of a derivation, asked in parallel, in priority order.
  private query(drvHash: string, report = this.report): Promise<Candidate[]> {
    let q = this.queries.get(drvHash);
    if (!q) {
      q = (async () => {
        const caches = await this.caches(report);
        return Promise.all(
          caches.map(async (cache): Promise<Candidate> => {
            const key = recordKey(drvHash);
            try {
              const bytes = await getBytes(cache.backend, key, MAX_RECORD_BYTES, { idleTimeoutMs: this.timeoutMs, deadlineMs: this.deadlineMs });
              if (!bytes) return { cache };
              return { cache, record: parseRecord(bytes.toString("utf8"), key) };
            } catch (err) {
              return { cache, error: errorMessage(err) };
            }
          }),
        );
      })();
      this.queries.set(drvHash, q);
    }
    return q;
  }

  // Starts asking the caches for a derivation's records, so that a later fetchInto, lookup or
  // substitute of it finds the answers there (or on their way).
  prefetch(drvHash: string, report = this.report): void {
    void this.query(drvHash, report);
  }

  // What every usable cache says about a derivation, in priority order, without downloading
  // archives: its record (if any), whether the record is trusted, or why the cache could not
  // answer. For planning and for comparing caches (challenge).
  async lookup(drvHash: string, report = this.report): Promise<LookupResult[]> {
    return (await this.query(drvHash, report)).map((c) => {
      const out: LookupResult = { url: c.cache.backend.url, priority: c.cache.priority };
      if (c.error !== undefined) out.error = c.error;
      if (c.record) {
        out.record = c.record;
        const trust = verifyRecord(c.record, this.trustedKeys, this.requireSigs);
        out.trusted = trust.ok;
        if (!trust.ok) out.untrustedReason = trust.reason;
      }
      return out;
    });
  }

  // The read sets the usable caches' compile-env hints list for a basis (compile-env-hints.ts),
  // every cache asked at once, merged in priority order (a set a preferred cache names comes
  // first). A cache whose hint cannot be read or is malformed is reported and left out. These are
  // only candidates: an item is accepted through the signed record of the hash a set leads to.
  compileEnvHints(basis: string, report = this.report): Promise<ConfigRead[][]> {
    let q = this.hints.get(basis);
    if (!q) {
      q = (async () => {
        const caches = await this.caches(report);
        const answers = await Promise.all(
          caches.map(async (cache) => {
            try {
              return (await readHint(cache.backend, basis, { idleTimeoutMs: this.timeoutMs }))?.readSets ?? [];
            } catch (err) {
              report(`ignoring the compile-env hint of ${cache.backend.url}: ${errorMessage(err)}`);
              return [];
            }
          }),
        );
        // Each answer holds at most MAX_HINT_SETS sets; together they are not cut.
        const merged = new Map<string, ConfigRead[]>();
        for (const s of answers.flat()) if (!merged.has(JSON.stringify(s))) merged.set(JSON.stringify(s), s);
        return [...merged.values()];
      })();
      this.hints.set(basis, q);
    }
    return q;
  }

  // Mix's answers about a project filed under `key` (mix-answers.ts): the body of the first
  // cache, in priority order, whose answers carry enough trusted signatures.
  async mixAnswers(key: string, signal?: AbortSignal): Promise<string | undefined> {
    return (await this.trustedDocument(key, readSharedAnswers, verifySharedAnswers, "the Mix answers", signal))?.body;
  }

  // A project's restore record filed under `key` (deps-record.ts), with the cache that has it,
  // whose packs it names: as mixAnswers.
  async depsRecord(key: string, signal?: AbortSignal): Promise<{ body: string; backend: CacheBackend } | undefined> {
    return this.trustedDocument(key, readDepsRecord, verifyDepsRecord, "the restore record", signal);
  }

  // A pack a trusted restore record of `backend` names, checked against its hash and size.
  pack(backend: CacheBackend, sha256: string, size: number): Promise<Buffer> {
    return readPack(backend, sha256, size, { idleTimeoutMs: this.timeoutMs, deadlineMs: this.deadlineFor(size) });
  }

  // The time a download of `bytes` gets: the usual deadline, and 64 KiB/s at the least.
  private deadlineFor(bytes: number): number {
    return this.deadlineMs + Math.ceil((bytes / 65536) * 1000);
  }

  // The first cache's document under `key`, in priority order, that carries enough trusted
  // signatures. Caches are asked at once; those whose document cannot be read, is malformed or
  // not trusted are reported (in priority order) and passed. Aborting (`signal`) stops the
  // requests and says nothing.
  private async trustedDocument(
    key: string,
    read: (backend: CacheBackend, key: string, options: GetOptions) => Promise<SignedDocument | undefined>,
    verify: (d: SignedDocument, trusted: readonly PublicKey[], required: number) => SignaturesTrust,
    what: string,
    signal?: AbortSignal,
  ): Promise<{ body: string; backend: CacheBackend } | undefined> {
    const caches = await this.caches(this.report);
    const outcomes = await Promise.all(
      caches.map(async (cache): Promise<{ body: string } | { problem: string } | undefined> => {
        try {
          const d = await read(cache.backend, key, { idleTimeoutMs: this.timeoutMs, deadlineMs: this.deadlineMs, ...(signal ? { signal } : {}) });
          if (!d) return undefined;
          const trust = verify(d, this.trustedKeys, this.requireSigs);
          return trust.ok ? { body: d.body } : { problem: trust.reason };
        } catch (err) {
          return signal?.aborted ? undefined : { problem: errorMessage(err) };
        }
      }),
    );
    for (const [i, o] of outcomes.entries()) {
      if (o && "body" in o) return { body: o.body, backend: caches[i].backend };
      if (o) this.report(`ignoring ${what} of ${caches[i].backend.url}: ${o.problem}`);
    }
    return undefined;
  }

  // Whether some cache has a trusted record of the item (no download).
  async has(wanted: WantedItem, report = this.report): Promise<boolean> {
    const want = itemName(wanted);
    return (await this.query(wanted.drvHash, report)).some((c) => c.record && itemName(c.record) === want && verifyRecord(c.record, this.trustedKeys, this.requireSigs).ok);
  }

  // The candidates that may be tried, in order: records that parsed, name the wanted item (when
  // given; else the first trusted record decides), carry enough trusted signatures and whose
  // native code can load on this host as far as the record says. Every other candidate is
  // reported, once, as one line.
  private async screen(candidates: readonly Candidate[], want: string | undefined, what: string, report: (line: string) => void): Promise<Trusted[]> {
    const ok: Trusted[] = [];
    for (const c of candidates) {
      const from = c.cache.backend.url;
      const shown = c.record ? label(c.record) : what;
      const reject = (reason: string) => report(`cannot substitute ${shown} from ${from}: ${reason}`);
      if (c.error !== undefined) reject(c.error);
      if (!c.record) continue;
      const r = c.record;
      const expected = want ?? (ok[0] && itemName(ok[0].record));
      if (expected !== undefined && itemName(r) !== expected) {
        reject(`the record describes ${itemName(r)}, not ${expected}`);
        continue;
      }
      const trust = verifyRecord(r, this.trustedKeys, this.requireSigs);
      if (!trust.ok) {
        reject(trust.reason);
        continue;
      }
      const unloadable = await loadProblems(r.needed ?? [], r.glibc);
      if (unloadable.length > 0) reject(`${unloadable.join("; ")}; building it instead`);
      else ok.push({ cache: c.cache, record: r });
    }
    return ok;
  }

  // Tries trusted candidates in order until one restores into `staging` (an empty directory of
  // the store, which exists again, empty, when none does).
  private async tryCandidates(store: Store, trusted: readonly Trusted[], staging: string, ctx: CallContext, report: (line: string) => void): Promise<SubstituteAttempt> {
    for (const { cache, record: r } of trusted) {
      const from = cache.backend.url;
      try {
        const references =
          ctx.references === "as-recorded"
            ? r.references.map((ref) => join(store.dir, ref))
            : await this.ensureReferences(store, r, { report, chain: [...(ctx.chain ?? []), itemName(r)] });
        const restored = await this.download(cache.backend, r, staging);
        // The record's Needed and Glibc lines are not signed: the tree's own ELF files decide.
        // A tree restored without any has nothing to check (and no facts).
        const elf = restored.elfFiles !== 0;
        const unloadable = elf ? await treeLoadProblems(staging) : [];
        if (unloadable.length > 0) {
          await removeTree(staging);
          await mkdir(staging, { mode: 0o755 });
          throw new BeamixError(`${unloadable.join("; ")}; building it instead`);
        }
        const native = elf ? await nativeFactsOfTree(staging) : undefined;
        return { status: "substituted", url: from, record: r, references, tree: { hash: r.narHash, size: r.narSize }, ...(native ? { native } : {}) };
      } catch (err) {
        report(`cannot substitute ${label(r)} from ${from}: ${errorMessage(err)}`);
      }
    }
    if (trusted.length === 0) return { status: "absent" };
    return { status: "failed", message: `${trusted.length === 1 ? "the only trusted substitute" : `all ${trusted.length} trusted substitutes`} failed verification or download` };
  }

  // Restores the wanted item into `staging` (an empty directory of the store, which exists again,
  // empty, if this does not succeed). References missing from the store are substituted first.
  async fetchInto(store: Store, wanted: WantedItem, staging: string, ctx: CallContext = {}): Promise<SubstituteAttempt> {
    const report = ctx.report ?? this.report;
    const trusted = await this.screen(await this.query(wanted.drvHash, report), itemName(wanted), label(wanted), report);
    return this.tryCandidates(store, trusted, staging, ctx, report);
  }

  private async download(backend: CacheBackend, r: SubstituteRecord, staging: string): Promise<TreeStats> {
    checkArchiveSize(r); // before asking: the signed tree size bounds the download
    const deadlineMs = this.deadlineFor(r.fileSize);
    const body = await backend.get(r.url, { idleTimeoutMs: this.timeoutMs, deadlineMs });
    if (!body) throw new BeamixError(`the archive ${r.url} is missing`);
    if (body.size !== undefined && body.size !== r.fileSize) {
      body.cancel();
      throw new BeamixError(`the archive file size is ${body.size}, the record says ${r.fileSize}`);
    }
    await rmdir(staging); // restoring creates it
    try {
      const stats = await unpackArchive(body, r, staging);
      // A store item is a directory: a tree whose top is a file (or a link) is a bad substitute.
      if (!(await lstat(staging)).isDirectory()) {
        await rm(staging, { force: true });
        throw new BeamixError("the archive's top level is not a directory");
      }
      return stats;
    } catch (err) {
      body.cancel();
      await mkdir(staging, { mode: 0o755 });
      throw err;
    }
  }

  // The store paths of a record's references, substituting those the store lacks.
  private async ensureReferences(store: Store, r: SubstituteRecord, ctx: Required<Omit<CallContext, "references">>): Promise<string[]> {
    const paths: string[] = [];
    for (const ref of r.references) {
      const path = join(store.dir, ref);
      if (!store.isValid(path)) {
        if (ctx.chain.includes(ref)) throw new BeamixError(`reference cycle through ${ref}`);
        const drvHash = ITEM_NAME_RE.exec(ref)![1];
        const got = await this.substitute(store, drvHash, { ...ctx, item: ref }).catch((err) => {
          throw new BeamixError(`its reference ${ref} cannot be substituted (${errorMessage(err)})`);
        });
        if (!got) throw new BeamixError(`its reference ${ref} is not in the store and no cache has it`);
      }
      paths.push(path);
    }
    return paths;
  }

  // The item of a derivation, from the store or substituted (with its references); undefined when
  // no cache has a trusted record of it. `item` pins the exact item name expected.
  async substitute(store: Store, drvHash: string, opts: CallContext & { item?: string } = {}): Promise<StoreItem | undefined> {
    if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)}`);
    const report = opts.report ?? this.report;
    const existing = store.queryByDrvHash(drvHash);
    if (existing && (opts.item === undefined || existing.path === join(store.dir, opts.item))) return existing;
    const trusted = await this.screen(await this.query(drvHash, report), opts.item, opts.item ?? drvHash, report);
    if (trusted.length === 0) return undefined;
    const r = trusted[0].record;
    const { item } = await store.ensureItem({ drvHash, name: r.name, version: r.version }, async (staging) => {
      const got = await this.tryCandidates(store, trusted, staging, opts, report);
      if (got.status === "substituted") return { references: got.references, deriver: substitutedDeriver(got), restoredFrom: got.tree };
      throw new BeamixError(`${label(r)}: ${got.status === "failed" ? got.message : "no trusted substitute"}`);
    });
    return item;
  }
}

// What the store records as the deriver of a substituted item: where it came from, and the
// derivation when it is known to be the right one (the caller's own, or the record's when it
// hashes to the signed derivation hash).
export function substitutedDeriver(got: { url: string; record: SubstituteRecord; native?: NativeFacts }, derivation?: Derivation): Record<string, unknown> {
  const deriver: Record<string, unknown> = { drvHash: got.record.drvHash, substitutedFrom: got.url };
  if (got.native) deriver.native = got.native;
  let d: Derivation | undefined = derivation;
  if (!d && got.record.deriver) {
    try {
      const parsed = derivationFromJson(JSON.parse(got.record.deriver));
      if (derivationHash(parsed) === got.record.drvHash) d = parsed;
    } catch {
      // informative only: an unreadable Deriver line is ignored
    }
  }
  if (d) deriver.derivation = derivationToJson(d);
  return deriver;
}
