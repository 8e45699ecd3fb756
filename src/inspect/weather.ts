// `beamix weather`: how much of a closure each binary cache holds, like `guix weather`. Each
// cache is asked for the signed record of every item (no archive is downloaded); an item counts
// as available from a cache only when the record is trusted (and, when the local store has the
// item, states the same tree). The closure need not be built: a plan's identities are known
// before building whenever nothing configured can change them.
import type { Substituters } from "../substitute/client/substituters.ts";
import { Semaphore } from "../util/semaphore.ts";

export type ItemWeather = "available" | "absent" | "untrusted" | "differs" | "error" | "unknown";

export interface WeatherItem {
  name: string;
  version: string;
  drvHash?: string; // unknown until its inputs are realized or its config reads are known
  narHash?: string; // when the local store has it
}

export interface CacheWeather {
  url: string;
  usable: boolean; // false: the cache could not be used at all (no cache-info, no trusted key)
  available: number; // items of the closure it holds, trusted
  total: number;
  downloadBytes: number; // archives of the available items, as stored in the cache
  narBytes: number; // their trees
  items: { item: string | null; name: string; version: string; state: ItemWeather; detail?: string }[];
}

export async function closureWeather(items: readonly WeatherItem[], subs: Substituters, report?: (line: string) => void): Promise<CacheWeather[]> {
  const usable = new Set((await subs.caches(report)).map((c) => c.backend.url));
  const caches = subs.urls.map((url): CacheWeather => ({ url, usable: usable.has(url), available: 0, total: items.length, downloadBytes: 0, narBytes: 0, items: [] }));
  const slots = new Semaphore(8);
  const answers = await Promise.all(items.map((i) => slots.use(async () => ({ i, results: i.drvHash ? await subs.lookup(i.drvHash, report) : undefined }))));
  for (const { i, results } of answers) {
    const base = { item: i.drvHash ? `${i.drvHash}-${i.name}-${i.version}` : null, name: i.name, version: i.version };
    for (const c of caches.filter((x) => x.usable)) {
      const r = results?.find((x) => x.url === c.url);
      if (!results) c.items.push({ ...base, state: "unknown", detail: "its identity depends on compile-time config it was never built with here" });
      else if (!r || (!r.record && r.error === undefined)) c.items.push({ ...base, state: "absent" });
      else if (r.error !== undefined) c.items.push({ ...base, state: "error", detail: r.error });
      else if (!r.trusted) c.items.push({ ...base, state: "untrusted", detail: r.untrustedReason });
      else if (i.narHash !== undefined && r.record!.narHash !== i.narHash) c.items.push({ ...base, state: "differs", detail: `the cache's tree is sha256:${r.record!.narHash}, the store's sha256:${i.narHash}` });
      else {
        c.items.push({ ...base, state: "available" });
        c.available++;
        c.downloadBytes += r.record!.fileSize;
        c.narBytes += r.record!.narSize;
      }
    }
  }
  for (const c of caches) c.items.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  return caches;
}
