// The archives `beamix serve --store` hands out, compressed once and kept on disk: compressing an
// item on every request made 256 clients take a server to 2.2 GB and time most of them out.
//
//   <dir>/<output hash>.nar.zst    the archive (src/substitute/format/archive.ts), named by the tree's hash
//   <dir>/<output hash>.json       its file hash and size, written after the archive
//
// Both are written under temporary names and renamed, so a reader sees a whole entry or none; an
// entry whose archive is missing or of another size is made again. Items with the same tree share
// one archive. Requests for an archive being made wait for it rather than start another, and at
// most `jobs` archives are made at once, whatever the number of clients.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { StoreItem } from "../../store/store.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { Semaphore } from "../../util/semaphore.ts";
import { packTree, type ArchiveInfo } from "../format/archive.ts";

const FORMAT = 1;

export interface CachedArchive {
  path: string; // the archive file
  info: ArchiveInfo;
}

export class ArchiveCache {
  readonly dir: string;
  private readonly jobs: Semaphore;
  private readonly entries = new Map<string, Promise<CachedArchive>>();
  private made = 0;

  constructor(dir: string, jobs: number) {
    this.dir = dir;
    this.jobs = new Semaphore(jobs);
  }

  // How many archives this cache compressed (the rest were found on disk or shared).
  get compressed(): number {
    return this.made;
  }

  // The archive of a store item, made if it is not kept yet.
  get(item: StoreItem): Promise<CachedArchive> {
    let p = this.entries.get(item.narHash);
    if (!p) {
      p = this.find(item).then((found) => found ?? this.jobs.use(() => this.make(item)));
      p.catch(() => this.entries.delete(item.narHash));
      this.entries.set(item.narHash, p);
    }
    return p;
  }

  // Forgets an entry whose file went missing (removed by hand while serving): made again next time.
  forget(item: StoreItem): void {
    this.entries.delete(item.narHash);
  }

  private paths(narHash: string) {
    return { archive: join(this.dir, `${narHash}.nar.zst`), info: join(this.dir, `${narHash}.json`) };
  }

  private async find(item: StoreItem): Promise<CachedArchive | undefined> {
    const { archive, info } = this.paths(item.narHash);
    try {
      const json = JSON.parse(await readFile(info, "utf8")) as Record<string, unknown>;
      const ok =
        json.format === FORMAT &&
        json.narHash === item.narHash &&
        json.narSize === item.narSize &&
        typeof json.fileHash === "string" &&
        /^[0-9a-f]{64}$/.test(json.fileHash) &&
        typeof json.fileSize === "number" &&
        (await stat(archive)).size === json.fileSize;
      if (!ok) return undefined;
      return { path: archive, info: { compression: "zstd", fileHash: json.fileHash as string, fileSize: json.fileSize as number, narHash: item.narHash, narSize: item.narSize } };
    } catch {
      return undefined; // none yet, or damaged: made again
    }
  }

  private async make(item: StoreItem): Promise<CachedArchive> {
    const { archive, info: infoPath } = this.paths(item.narHash);
    await mkdir(this.dir, { recursive: true });
    const tmp = `${archive}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
    let info: ArchiveInfo;
    try {
      info = await packTree(item.path, createWriteStream(tmp, { mode: 0o644 }), "zstd", item.narSize);
      // The store's hash is what records announce: a tree that changed under it is not served.
      if (info.narHash !== item.narHash || info.narSize !== item.narSize) {
        throw new BeamixError(`${item.path}: its tree hashes to sha256:${info.narHash} (${info.narSize} bytes), not the store's sha256:${item.narHash}`);
      }
      await rename(tmp, archive);
    } catch (err) {
      await rm(tmp, { force: true });
      // zstd refuses a tree of another size than the store's: the same corruption as a changed hash.
      if ((err as NodeJS.ErrnoException).code === "ZSTD_error_srcSize_wrong") {
        throw new BeamixError(`${item.path}: its tree is not the ${item.narSize} bytes the store recorded`);
      }
      throw err instanceof BeamixError ? err : new BeamixError(`${archive}: cannot write the archive of ${item.path} (${errorMessage(err)})`);
    }
    const json = { format: FORMAT, narHash: info.narHash, narSize: info.narSize, fileHash: info.fileHash, fileSize: info.fileSize };
    await writeFileAtomic(infoPath, JSON.stringify(json) + "\n");
    this.made++;
    return { path: archive, info };
  }
}
