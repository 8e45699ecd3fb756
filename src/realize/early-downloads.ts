// Substitutes downloaded ahead of their turn. An item can only be registered once its references
// (its dependencies) are valid, but its archive can be fetched, checked and restored long before:
// realize starts every missing item's download at once (a few at a time, the longest chain of
// dependents first), each into a staging directory of its own, and an item's task, when its
// dependencies are done, moves the restored tree into its build-locked staging directory and
// registers it. Without this, each level of the dependency graph waited for the previous one's
// downloads.
//
// Nothing here reaches the store's database: a download is only a directory in the store's tmp/
// (named after this process, so recovery removes it if the process dies), and what no task takes
// is deleted by discard().
import { rename, rmdir } from "node:fs/promises";
import { errorMessage } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { removeTree } from "../store/perms.ts";
import type { SubstituteAttempt, Substituters, WantedItem } from "../substitute/client/substituters.ts";
import { Semaphore } from "../util/semaphore.ts";

export interface EarlyDownload {
  got: SubstituteAttempt;
  staging?: string; // the restored tree, when substituted
}

export class EarlyDownloads {
  private readonly downloads = new Map<string, Promise<EarlyDownload | undefined>>();
  private readonly stagings = new Set<string>();
  private readonly slots: Semaphore;
  private readonly store: Store;
  private readonly subs: Substituters;
  private readonly report: (line: string) => void;

  constructor(store: Store, subs: Substituters, report: (line: string) => void, parallel: number) {
    this.store = store;
    this.subs = subs;
    this.report = report;
    this.slots = new Semaphore(parallel);
  }

  // Starts fetching p's item (resolves to undefined if the download could not even start, for
  // example when no cache is usable: the task then asks the caches itself).
  start(p: WantedItem, priority: number): void {
    this.subs.prefetch(p.drvHash, this.report); // the records are asked for at once, downloads a few at a time
    const download = this.slots.use(async () => {
      if ((await this.subs.caches(this.report)).length === 0) return undefined;
      const staging = await this.store.createStagingDir();
      this.stagings.add(staging);
      // The record's references are made valid by the DAG before the task registers the item.
      const got = await this.subs.fetchInto(this.store, p, staging, { report: this.report, references: "as-recorded" });
      return got.status === "substituted" ? { got, staging } : { got };
    }, priority);
    this.downloads.set(p.name, download.catch(() => undefined));
  }

  // p's download, moved into `staging` (an empty staging directory of the store) when it was
  // substituted and every reference it names is now valid. Undefined when there was none or it
  // cannot be used: the caller then asks the caches itself. Rejections were already reported.
  async take(p: WantedItem, staging: string): Promise<SubstituteAttempt | undefined> {
    const early = await this.downloads.get(p.name);
    this.downloads.delete(p.name);
    if (!early) return undefined;
    if (early.got.status !== "substituted" || !early.staging) return early.got;
    if (!early.got.references.every((r) => this.store.isValid(r))) return undefined;
    await rmdir(staging);
    await rename(early.staging, staging);
    this.stagings.delete(early.staging);
    return early.got;
  }

  // Deletes what no task took (an item found present after all, a task skipped after a failure).
  async discard(): Promise<void> {
    await Promise.all([...this.downloads.values()]);
    await Promise.all(
      [...this.stagings].map((s) =>
        removeTree(s).catch((err: unknown) => this.report(`could not remove the unused download ${s}: ${errorMessage(err)}`)),
      ),
    );
    this.stagings.clear();
  }
}
