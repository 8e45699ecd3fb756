// Adding items: staging trees, build locks, and registration, which turns a finished tree into a
// valid item (see the contract in store-core.ts).
import { chmod, lstat, mkdir, rename } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { BeamixError } from "../errors.ts";
import type { LockOptions } from "./locks.ts";
import { hashTree, restoreTree, writeTree } from "./nar.ts";
import { makeReadOnly, removeTree } from "./perms.ts";
import { formatId, selfId } from "./process-id.ts";
import { addTempRoot } from "./roots.ts";
import { DRV_HASH_RE, errCode, lstatOrUndefined, type StoreCore, type StoreItem, type Trashed } from "./store-core.ts";

export type RegisterPhase = "read-only" | "hashed" | "renamed" | "registered";

export interface RegisterOptions {
  drvHash: string;
  name: string;
  version: string;
  // The finished tree. It is consumed: moved into the store, or deleted if the item already exists.
  stagingDir: string;
  references?: readonly string[]; // store paths of the items this one needs at run time
  deriver?: unknown; // JSON-serializable description of how the item was made
  // The tree's hash and size, when the caller has just restored the staging tree from a
  // serialization with this hash (restoreTree accepts only canonical serializations, so the tree
  // hashes to it): registering then does not read the whole tree again.
  restoredFrom?: TreeHash;
  // Progress notification, called synchronously as each step completes.
  onPhase?: (phase: RegisterPhase) => void;
}

export interface TreeHash {
  hash: string;
  size: number;
}

export interface BuildOutcome {
  references?: readonly string[];
  deriver?: unknown;
  restoredFrom?: TreeHash; // see RegisterOptions
}

// A fresh empty directory on the store's file system, removed automatically once this process is dead.
export async function createStagingDir(s: StoreCore): Promise<string> {
  s.requireWritable("add items");
  const path = s.tmpName("stage");
  await s.guard("make a staging directory", () => mkdir(path, { mode: 0o755 }));
  return path;
}

// Runs fn holding the build lock of a derivation, so that concurrent builders (processes or tasks)
// build it once. fn gets the valid item if one exists by the time the lock is held: a waiter must
// use it instead of building again.
export async function withBuildLock<T>(s: StoreCore, drvHash: string, fn: (existing: StoreItem | undefined) => Promise<T>, options?: LockOptions): Promise<T> {
  if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)}`);
  s.requireWritable("build or fetch items");
  return s.locks.with(`build:${drvHash}`, () => fn(s.queryByDrvHash(drvHash)), options);
}

// The item of a derivation: the existing one, or the one `build` produces in a staging directory
// (called at most once across all processes sharing the store). The item is protected by a
// temporary root of this process in both cases.
export async function ensureItem(
  s: StoreCore,
  spec: { drvHash: string; name: string; version: string },
  build: (stagingDir: string) => Promise<BuildOutcome>,
  options?: LockOptions,
): Promise<{ item: StoreItem; built: boolean }> {
  const path = s.itemPath(spec.drvHash, spec.name, spec.version);
  await addTempRoot(s, path); // before checking validity, so gc cannot take it in between
  const have = s.queryItem(path);
  if (have) return { item: have, built: false };
  return withBuildLock(
    s,
    spec.drvHash,
    async (existing) => {
      if (existing) return { item: existing, built: false };
      const staging = await createStagingDir(s);
      try {
        const outcome = await build(staging);
        const item = await register(s, { ...spec, stagingDir: staging, references: outcome.references, deriver: outcome.deriver, restoredFrom: outcome.restoredFrom });
        return { item, built: true };
      } finally {
        await removeTree(staging); // nothing left if register moved it
      }
    },
    options,
  );
}

// Moves a staging tree into .beamix/tmp under this process's name (same file system, and cleaned
// up if we die). Across file systems the tree is copied through its serialization.
async function adoptStaging(s: StoreCore, stagingDir: string): Promise<string> {
  const src = resolve(stagingDir);
  const st = await lstat(src).catch((err) => {
    if (errCode(err) === "ENOENT") throw new BeamixError(`${src}: staging directory does not exist`);
    throw err;
  });
  if (!st.isDirectory()) throw new BeamixError(`${src}: staging path is not a directory`);
  if (dirname(src) === s.tmpDir && src.slice(s.tmpDir.length + 1).startsWith(`stage-${formatId(selfId())}-`)) return src;
  const dest = s.tmpName("stage");
  try {
    await rename(src, dest);
  } catch (err) {
    if (errCode(err) !== "EXDEV") throw err;
    const pipe = new PassThrough();
    const fail = (e: unknown) => {
      pipe.destroy(e as Error); // unblocks the other side
      throw e;
    };
    await Promise.all([writeTree(src, pipe).then(() => pipe.end(), fail), restoreTree(pipe, dest).catch(fail)]);
    await removeTree(src);
  }
  return dest;
}

// Turns a finished staging tree into a valid store item (see the invariants at the top).
// Idempotent: if the derivation already has a valid item, the staging tree is discarded and the
// existing item returned.
export async function register(s: StoreCore, options: RegisterOptions): Promise<StoreItem> {
  s.requireWritable(`register ${options.name} ${options.version}`);
  return s.guard(`register ${options.name} ${options.version}`, () => registerWritable(s, options));
}

async function registerWritable(s: StoreCore, options: RegisterOptions): Promise<StoreItem> {
  const { drvHash, name, version } = options;
  const final = s.itemPath(drvHash, name, version);
  const base = s.itemBase(final)!;
  const refs = [...new Set((options.references ?? []).map((p) => {
    const b = s.itemBase(p);
    if (b === undefined) throw new BeamixError(`cannot register ${base}: reference ${p} is not an item path of ${s.dir}`);
    return b;
  }))].filter((b) => b !== base);
  const phase = options.onPhase ?? (() => {});
  return withBuildLock(s, drvHash, async (existing) => {
    if (existing) {
      if (existing.path !== final) throw new BeamixError(`derivation ${drvHash} is already registered as ${existing.path}, not ${final}`);
      await removeTree(options.stagingDir);
      return mergeCompileEnv(s, existing, options.deriver);
    }
    let staging: string | undefined = await adoptStaging(s, options.stagingDir);
    let renamed = false;
    const trash: Trashed[] = [];
    try {
      await makeReadOnly(staging, { skipRoot: true }); // the top stays writable until it is renamed
      phase("read-only");
      const tree = options.restoredFrom ?? (await hashTree(staging));
      phase("hashed");
      await s.locks.with("gc", async () => {
        for (const r of refs) {
          if (!s.validRow(r)) throw new BeamixError(`cannot register ${base}: its reference ${join(s.dir, r)} is not a valid store item`);
        }
        await addTempRoot(s, final); // rooted before it becomes valid
        // Debris of an earlier crash under this derivation: a row without a directory, or the reverse.
        const stale = s.db.itemByDrvHash(drvHash) ?? s.db.item(base);
        if (stale) await s.removeItemsLocked([stale.path], trash);
        const leftover = lstatOrUndefined(final) && (await s.moveToTrash(base));
        if (leftover) trash.push(leftover);
        await rename(staging!, final);
        staging = undefined;
        renamed = true;
        phase("renamed");
        await chmod(final, 0o555);
        s.db.insertItem(
          { path: base, drvHash, name, version, narHash: tree.hash, narSize: tree.size, registeredAt: Date.now(), deriver: options.deriver ?? null },
          refs,
        );
        renamed = false;
        phase("registered");
      });
    } catch (err) {
      if (staging !== undefined) await removeTree(staging).catch(() => {});
      if (renamed) {
        // Renamed but not recorded: take it out again rather than leave an unregistered directory.
        await s.locks
          .with("gc", async () => {
            const t = await s.moveToTrash(base);
            if (t) trash.push(t);
          })
          .catch(() => {});
      }
      throw err;
    } finally {
      await s.discard(trash).catch(() => {}); // else recover() removes it later
    }
    return s.queryItem(final)!;
  });
}

// An item registered again (by another command, or substituted after a build) keeps its
// deriver, but gains the compile-env record (basis and reads) of the new one when it had none,
// so that its read set can be found and published whoever registered it first.
function mergeCompileEnv(s: StoreCore, existing: StoreItem, deriver: unknown): StoreItem {
  const incoming = (deriver as { compileEnv?: unknown } | null | undefined)?.compileEnv;
  const have = existing.deriver as Record<string, unknown> | null;
  if (incoming === undefined || (have && have.compileEnv !== undefined)) return existing;
  const merged = { ...(have && typeof have === "object" ? have : {}), compileEnv: incoming };
  s.db.updateDeriver(s.itemBase(existing.path)!, merged);
  return s.queryItem(existing.path)!;
}
