// Build logs: one gzip-compressed file per derivation under .beamix/logs.
import { createWriteStream } from "node:fs";
import { readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, gunzipSync } from "node:zlib";
import { BeamixError } from "../errors.ts";
import { storeError } from "./io-errors.ts";
import { DRV_HASH_RE, errCode, type StoreCore } from "./store-core.ts";

export function logPath(s: StoreCore, drvHash: string): string {
  if (!DRV_HASH_RE.test(drvHash)) throw new BeamixError(`invalid derivation hash ${JSON.stringify(drvHash)}`);
  return join(s.logsDir, `${drvHash}.log.gz`);
}

// Stores a build log, gzip-compressed; replaces an earlier log of the same derivation atomically.
export async function writeLog(s: StoreCore, drvHash: string, log: string | Uint8Array | AsyncIterable<string | Uint8Array>): Promise<string> {
  const dest = logPath(s, drvHash);
  s.requireWritable("store a build log");
  const tmp = s.tmpName("log");
  const source = typeof log === "string" || log instanceof Uint8Array ? Readable.from([Buffer.from(log)]) : Readable.from(log);
  try {
    await pipeline(source, createGzip(), createWriteStream(tmp, { flags: "wx", mode: 0o444 }));
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw storeError(err, `cannot store the build log of ${drvHash} (store ${s.dir})`, s.dir);
  }
  return dest;
}

export async function readLog(s: StoreCore, drvHash: string): Promise<string | undefined> {
  try {
    return gunzipSync(await readFile(logPath(s, drvHash))).toString("utf8");
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    throw err;
  }
}
