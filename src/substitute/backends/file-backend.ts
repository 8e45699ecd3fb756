// A cache in a local directory (file:///srv/cache). Each key is written to a dot-named temporary
// file beside its final name, flushed, then renamed: readers and racing writers see a whole file
// or none. A writer killed half-way leaves only a dot-file, which listings and readers ignore.
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BeamixError, errorMessage } from "../../errors.ts";
import { isSafeKey } from "../format/layout.ts";
import type { CacheBackend, CacheBody, PutBody } from "./backend.ts";

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

export class FileBackend implements CacheBackend {
  readonly dir: string;
  readonly url: string;
  readonly writable = true;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.url = pathToFileURL(this.dir).href;
  }

  private path(key: string): string {
    if (!isSafeKey(key)) throw new BeamixError(`${this.url}: invalid cache key ${JSON.stringify(key)}`);
    return join(this.dir, ...key.split("/"));
  }

  async get(key: string): Promise<CacheBody | undefined> {
    const path = this.path(key);
    let fh;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return undefined;
      throw new BeamixError(`${this.url}/${key}: cannot read (${errCode(err) ?? errorMessage(err)})`);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new BeamixError(`${this.url}/${key}: not a regular file`);
    }
    const stream = fh.createReadStream({ highWaterMark: 256 * 1024 }); // closes fh when done or destroyed
    return {
      size: st.size,
      cancel: () => void stream.destroy(),
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>,
    };
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (err) {
      if (errCode(err) === "ENOENT" || errCode(err) === "ENOTDIR") return false;
      throw err;
    }
  }

  async put(key: string, body: Buffer | PutBody): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o644);
    try {
      let written = 0;
      if (Buffer.isBuffer(body)) {
        await fh.writeFile(body);
        written = body.length;
      } else {
        for await (const chunk of body.open()) {
          await fh.write(chunk);
          written += chunk.byteLength;
        }
        if (written !== body.size) throw new BeamixError(`${this.url}/${key}: wrote ${written} bytes, expected ${body.size}`);
      }
      await fh.chmod(0o644); // whatever the umask
      await fh.sync();
      await fh.close();
      await rename(tmp, path);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async list(prefix = ""): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, rel: string, depth: number) => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errCode(err) === "ENOENT") return;
        throw err;
      }
      for (const e of entries) {
        if (e.name.startsWith(".")) continue; // temporaries of writers
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory() && depth < 3) await walk(join(dir, e.name), key, depth + 1);
        else if (e.isFile() && isSafeKey(key) && key.startsWith(prefix)) keys.push(key);
      }
    };
    await walk(this.dir, "", 0);
    return keys.sort();
  }
}
