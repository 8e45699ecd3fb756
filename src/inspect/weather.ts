// `beamix weather`: how much of a closure each binary cache holds, like `guix weather`. Each
// cache is asked for the signed record of every item (no archive is downloaded); an item counts
// as available from a cache only when the record is trusted and states the tree the store holds.
import type { Store } from "../store/store.ts";
import type { Substituters } from "../substitute/client/substituters.ts";
import { Semaphore } from "../util/semaphore.ts";
import { closureNodes } from "./closure.ts";

export type ItemWeather = "available" | "absent" | "untrusted" | "differs" | "error";

export interface CacheWeather {
  url: string;
  usable: boolean; // false: the cache could not be used at all (no cache-info, no trusted key)
  available: number; // items of the closure it holds, trusted
  total: number;
  downloadBytes: number; // archives of the available items, as stored in the cache
  narBytes: number; // their trees
  items: { item: string; name: string; version: string; state: ItemWeather; detail?: string }[];
}

export async function closureWeather(store: Store, roots: readonly string[], subs: Substituters, report?: (line: string) => void): Promise<CacheWeather[]> {
  const items = closureNodes(store, roots).map((n) => store.queryItem(n.path)!);
  const usable = new Set((await subs.caches(report)).map((c) => c.backend.url));
  const caches = new Map<string, CacheWeather>(
    subs.urls.map((url) => [url, { url, usable: usable.has(url), available: 0, total: items.length, downloadBytes: 0, narBytes: 0, items: [] }]),
  );
  const slots = new Semaphore(8);
  const answers = await Promise.all(items.map((i) => slots.use(async () => ({ i, results: await subs.lookup(i.drvHash, report) }))));
  for (const { i, results } of answers) {
    for (const c of caches.values()) {
      if (!c.usable) continue;
      const r = results.find((x) => x.url === c.url);
      const base = { item: `${i.drvHash}-${i.name}-${i.version}`, name: i.name, version: i.version };
      if (!r || (!r.record && r.error === undefined)) c.items.push({ ...base, state: "absent" });
      else if (r.error !== undefined) c.items.push({ ...base, state: "error", detail: r.error });
      else if (!r.trusted) c.items.push({ ...base, state: "untrusted", detail: r.untrustedReason });
      else if (r.record!.narHash !== i.narHash) c.items.push({ ...base, state: "differs", detail: `the cache's tree is sha256:${r.record!.narHash}, the store's sha256:${i.narHash}` });
      else {
        c.items.push({ ...base, state: "available" });
        c.available++;
        c.downloadBytes += r.record!.fileSize;
        c.narBytes += r.record!.narSize;
      }
    }
  }
  for (const c of caches.values()) c.items.sort((a, b) => a.item.localeCompare(b.item));
  return [...caches.values()];
}
