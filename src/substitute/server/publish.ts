// Pushing store items, with their whole closure, to a cache. Each item is packed once into a
// temporary file (to learn its file hash, which names the archive), then its archive is uploaded
// unless already there, and its signed record written last: a record never points at a missing
// archive, and an item's record appears only after the records of everything it references.
// Two publishers racing write the same content-addressed archive names and equivalent records.
// Items that record the compile-time config their build read (`beamix deps`) also get their read
// sets into the cache's compile-env hints (compile-env-hints.ts), after every record is written.
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { Store, StoreItem } from "../../store/store.ts";
import { removeTree } from "../../store/perms.ts";
import { runDag } from "../../util/dag-scheduler.ts";
import { packTree } from "../format/archive.ts";
import type { CacheBackend } from "../backends/backend.ts";
import { getBytes } from "../backends/backend.ts";
import { CACHE_FORMAT, DEFAULT_PRIORITY, formatCacheInfo, MAX_CACHE_INFO_BYTES, parseCacheInfo, type CacheInfo } from "../format/cache-info.ts";
import { recordForItem } from "../format/item-record.ts";
import { archiveKey, CACHE_INFO_KEY, contentTypeOf, recordKey, type Compression } from "../format/layout.ts";
import { formatRecord, signRecord } from "../format/record.ts";
import { hintsOfItems, publishHint } from "../format/compile-env-hints.ts";
import type { SecretKey } from "../../signing/keys.ts";

export interface PublishEvent {
  item: StoreItem;
  status: "pushed" | "present";
  fileSize?: number; // of the archive, when pushed
  archiveUploaded?: boolean; // false when an identical archive was already there
}

export interface PublishOptions {
  signWith: SecretKey;
  priority?: number; // for a cache that has no beamix-cache-info yet
  compression?: Compression;
  jobs?: number;
  onItem?: (e: PublishEvent) => void;
  report?: (line: string) => void; // a hint that could not be read back or merged
}

export interface PublishResult {
  pushed: StoreItem[];
  present: StoreItem[];
  hints: string[]; // bases whose compile-env hint was written (created or extended)
}

// Creates beamix-cache-info if missing; checks an existing one is a format this beamix writes.
export async function ensureCacheInfo(backend: CacheBackend, priority = DEFAULT_PRIORITY): Promise<CacheInfo> {
  const text = await getBytes(backend, CACHE_INFO_KEY, MAX_CACHE_INFO_BYTES);
  if (text) return parseCacheInfo(text.toString("utf8"), `${backend.url}/${CACHE_INFO_KEY}`);
  const info = { format: CACHE_FORMAT, priority };
  await backend.put(CACHE_INFO_KEY, Buffer.from(formatCacheInfo(info)), { contentType: contentTypeOf(CACHE_INFO_KEY) });
  return info;
}

// The items and everything they reference, references first.
export function closureInOrder(store: Store, paths: readonly string[]): StoreItem[] {
  const items = new Map(store.closure(paths).map((p) => [p, store.queryItem(p)!]));
  const order: StoreItem[] = [];
  const seen = new Set<string>();
  const visit = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    const item = items.get(p)!;
    for (const r of item.references) visit(r);
    order.push(item);
  };
  for (const p of items.keys()) visit(p);
  return order;
}

export async function publishClosure(store: Store, paths: readonly string[], backend: CacheBackend, opts: PublishOptions): Promise<PublishResult> {
  if (!backend.writable) throw new BeamixError(`${backend.url}: cannot publish to this cache (read-only)`);
  await ensureCacheInfo(backend, opts.priority);
  const items = closureInOrder(store, paths);
  const result: PublishResult = { pushed: [], present: [], hints: [] };
  const tasks = items.map((item) => ({
    key: item.path,
    deps: item.references,
    run: async () => {
      if (await backend.exists(recordKey(item.drvHash))) {
        result.present.push(item);
        opts.onItem?.({ item, status: "present" });
        return;
      }
      const e = await publishItem(store, item, backend, opts);
      result.pushed.push(item);
      opts.onItem?.({ item, status: "pushed", ...e });
    },
  }));
  const outcomes = await runDag(tasks, { jobs: opts.jobs ?? 4 });
  for (const [key, o] of outcomes) {
    if (o.status === "failed") throw o.error instanceof BeamixError ? o.error : new BeamixError(`publishing ${key}: ${errorMessage(o.error)}`, { cause: o.error });
  }
  // Present items too: their records may predate hints, or have come from another publisher.
  const hints = hintsOfItems(items);
  const worker = async () => {
    for (let h = hints.shift(); h; h = hints.shift()) if (await publishHint(backend, h, opts.report)) result.hints.push(h.basis);
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs ?? 4, hints.length) }, worker));
  result.hints.sort();
  return result;
}

async function publishItem(store: Store, item: StoreItem, backend: CacheBackend, opts: PublishOptions): Promise<{ fileSize: number; archiveUploaded: boolean }> {
  const compression = opts.compression ?? "zstd";
  const tmp = await store.createStagingDir(); // removed by the store's recovery if we are killed
  try {
    const file = join(tmp, "archive");
    const info = await packTree(item.path, createWriteStream(file, { mode: 0o600 }), compression);
    const key = archiveKey(info.fileHash, compression);
    const record = signRecord(recordForItem(item, info, key), opts.signWith);
    const archiveUploaded = !(await backend.exists(key));
    if (archiveUploaded) {
      await backend.put(key, { size: info.fileSize, open: () => createReadStream(file, { highWaterMark: 256 * 1024 }) }, { contentType: contentTypeOf(key) });
    }
    await backend.put(recordKey(item.drvHash), Buffer.from(formatRecord(record)), { contentType: contentTypeOf(recordKey(item.drvHash)) });
    return { fileSize: info.fileSize, archiveUploaded };
  } finally {
    await removeTree(tmp);
  }
}
