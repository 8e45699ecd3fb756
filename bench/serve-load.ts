// A bounded load test of `beamix serve`: one server, many clients on loopback, each with a store of
// its own. Two phases, every request counted and timed on the client side:
//   realize  every client substitutes the whole cache into a fresh store at once (records,
//            archives, verification, registration: what `beamix build --substituters` does);
//            then every store is verified;
//   fetch    every client reads every record `rounds` times, then every archive `rounds` times,
//            checking each archive's size and hash against its record: the server's throughput.
// The figures: records per second and archive MB/s of each phase, latency percentiles, requests.
// Everything is bounded: a fixed number of requests, and a deadline for the whole run.
//
//   node bench/serve-load.ts --cache DIR --trusted-key FILE [--clients 16] [--rounds 20]
// serves the published cache DIR with `beamix serve --cache DIR` (a child process) and prints
// the figures.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openStore } from "../src/store/store.ts";
import { getBytes, readOnly, type CacheBackend, type CacheBody, type GetOptions } from "../src/substitute/backend.ts";
import { FileBackend } from "../src/substitute/file-backend.ts";
import { HttpBackend } from "../src/substitute/http-backend.ts";
import { readPublicKeyFile, type PublicKey } from "../src/substitute/keys.ts";
import { CACHE_INFO_KEY, isRecordKey, RECORD_SUFFIX } from "../src/substitute/layout.ts";
import { MAX_RECORD_BYTES, parseRecord, type SubstituteRecord } from "../src/substitute/record.ts";
import { Substituters } from "../src/substitute/substituters.ts";

const BEAMIX_MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

type Kind = "record" | "archive" | "other";
const kindOf = (key: string): Kind => (isRecordKey(key) ? "record" : key.startsWith("archives/") ? "archive" : "other");

// Client-side counts of one phase.
class Meter {
  readonly latencies: Record<Kind, number[]> = { record: [], archive: [], other: [] };
  readonly bytes: Record<Kind, number> = { record: 0, archive: 0, other: 0 };
  readonly failures: string[] = [];
  done(kind: Kind, ms: number, bytes: number): void {
    this.latencies[kind].push(ms);
    this.bytes[kind] += bytes;
  }
  requests(): number {
    return this.latencies.record.length + this.latencies.archive.length + this.latencies.other.length + this.failures.length;
  }
}

// A backend that times every request to the end of its body and counts its bytes.
class MeteredBackend implements CacheBackend {
  readonly writable = false;
  private readonly inner: CacheBackend;
  private readonly meter: () => Meter;
  constructor(inner: CacheBackend, meter: () => Meter) {
    this.inner = inner;
    this.meter = meter;
  }
  get url(): string {
    return this.inner.url;
  }
  async get(key: string, options?: GetOptions): Promise<CacheBody | undefined> {
    const meter = this.meter();
    const started = performance.now();
    let body: CacheBody | undefined;
    try {
      body = await this.inner.get(key, options);
    } catch (err) {
      meter.failures.push(`GET ${key}: ${(err as Error).message}`);
      throw err;
    }
    if (!body) {
      meter.failures.push(`GET ${key}: not found`);
      return undefined;
    }
    const inner = body;
    let bytes = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      try {
        for await (const c of inner) {
          bytes += c.byteLength;
          yield c;
        }
      } catch (err) {
        meter.failures.push(`GET ${key}: ${(err as Error).message}`);
        throw err;
      }
      meter.done(kindOf(key), performance.now() - started, bytes);
    }
    return { size: inner.size, cancel: () => inner.cancel(), [Symbol.asyncIterator]: counted };
  }
  exists(key: string, options?: GetOptions): Promise<boolean> {
    return this.inner.exists(key, options);
  }
  async put(): Promise<void> {
    readOnly(this.url);
  }
  list(prefix?: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
}

export interface Latency {
  p50: number;
  p95: number;
  max: number;
}

export interface PhaseFigures {
  seconds: number;
  requests: number; // all, failed ones included
  failed: number;
  records: number;
  archives: number;
  archiveBytes: number;
  recordsPerSecond: number; // records fetched / the phase's (or sub-phase's) wall time
  archiveMBps: number; // archive bytes / wall time, in MB (10^6 bytes) per second
  recordLatencyMs: Latency;
  archiveLatencyMs: Latency;
}

export interface ServeLoadResult {
  url: string;
  clients: number;
  items: number; // in the cache, realized by every client
  rounds: number;
  realize: PhaseFigures;
  fetch: { records: PhaseFigures; archives: PhaseFigures };
  verifiedItems: number; // across all client stores
  failures: string[]; // the first few, for a message
  seconds: number;
}

export interface ServeLoadOptions {
  url: string; // the server, e.g. http://127.0.0.1:PORT
  records: SubstituteRecord[]; // what the cache holds; every client realizes all of it
  trustedKeys: readonly PublicKey[];
  workDir: string; // client stores go here
  clients?: number; // default 16
  rounds?: number; // fetch phase passes per client (default 20)
  deadlineMs?: number; // the whole run (default 60 s)
  timeoutMs?: number; // idle time-out of one request (default 20 s)
}

function latency(xs: number[]): Latency {
  if (xs.length === 0) return { p50: 0, p95: 0, max: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: round(at(0.5)), p95: round(at(0.95)), max: round(s[s.length - 1]) };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function figures(m: Meter, seconds: number): PhaseFigures {
  return {
    seconds: round(seconds, 3),
    requests: m.requests(),
    failed: m.failures.length,
    records: m.latencies.record.length,
    archives: m.latencies.archive.length,
    archiveBytes: m.bytes.archive,
    recordsPerSecond: round(m.latencies.record.length / seconds, 1),
    archiveMBps: round(m.bytes.archive / 1e6 / seconds, 2),
    recordLatencyMs: latency(m.latencies.record),
    archiveLatencyMs: latency(m.latencies.archive),
  };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

// Rejects when the deadline passes first (the work itself is left to its own time-outs).
function within<T>(deadline: number, what: string, work: Promise<T>): Promise<T> {
  const left = deadline - performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`serve load test: ${what} did not finish before the deadline`)), Math.max(0, left));
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export async function measureServeLoad(opts: ServeLoadOptions): Promise<ServeLoadResult> {
  const clients = opts.clients ?? 16;
  const rounds = opts.rounds ?? 20;
  const started = performance.now();
  const deadline = started + (opts.deadlineMs ?? 60_000);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let meter = new Meter();
  const backend = () => new MeteredBackend(new HttpBackend(opts.url), () => meter);

  // Phase 1: every client realizes the whole cache into a fresh store, all at once.
  const failures: string[] = [];
  let verifiedItems = 0;
  const realizeOne = async (i: number) => {
    const store = await openStore(join(opts.workDir, `client-${i}`));
    try {
      const subs = new Substituters({ backends: [backend()], trustedKeys: opts.trustedKeys, timeoutMs, report: (line) => failures.push(`client ${i}: ${line}`) });
      await Promise.all(
        opts.records.map(async (r) => {
          const item = await subs.substitute(store, r.drvHash);
          if (!item) failures.push(`client ${i}: ${r.name} ${r.version} was not substituted`);
          else if (item.narHash !== r.narHash) failures.push(`client ${i}: ${r.name} ${r.version} has another tree hash`);
        }),
      );
      const report = await store.verify();
      for (const p of report.problems) failures.push(`client ${i}: verify: ${JSON.stringify(p)}`);
      verifiedItems += store.listItems().length - report.problems.length;
    } finally {
      await store.close();
    }
  };
  const realizeSeconds = await timed(() => within(deadline, "realizing", Promise.all(Array.from({ length: clients }, (_, i) => realizeOne(i)))));
  const realize = figures(meter, realizeSeconds);
  failures.push(...meter.failures);

  // Phase 2: the server's throughput, records then archives.
  const fetchPass = async (keys: { key: string; check?: SubstituteRecord }[]) => {
    meter = new Meter();
    const pass = async () => {
      const b = backend();
      for (let round = 0; round < rounds; round++) {
        for (const { key, check } of keys) {
          if (!check) {
            const text = await getBytes(b, key, MAX_RECORD_BYTES, { idleTimeoutMs: timeoutMs });
            if (text) parseRecord(text.toString("utf8"), key);
            continue;
          }
          const body = await b.get(key, { idleTimeoutMs: timeoutMs });
          if (!body) continue; // counted as a failure by the meter
          const h = createHash("sha256");
          let n = 0;
          for await (const c of body) {
            h.update(c);
            n += c.byteLength;
          }
          if (n !== check.fileSize || h.digest("hex") !== check.fileHash) meter.failures.push(`GET ${key}: not the archive its record describes`);
        }
      }
    };
    const seconds = await timed(() => within(deadline, "fetching", Promise.all(Array.from({ length: clients }, pass))));
    failures.push(...meter.failures);
    return figures(meter, seconds);
  };
  const records = await fetchPass(opts.records.map((r) => ({ key: `${r.drvHash}${RECORD_SUFFIX}` })));
  const archives = await fetchPass(opts.records.map((r) => ({ key: r.url, check: r })));

  return {
    url: opts.url,
    clients,
    items: opts.records.length,
    rounds,
    realize,
    fetch: { records, archives },
    verifiedItems,
    failures: failures.slice(0, 20),
    seconds: round((performance.now() - started) / 1000, 3),
  };
}

// The records of a published cache directory (what a load test realizes).
export async function cacheRecords(cacheDir: string): Promise<SubstituteRecord[]> {
  const b = new FileBackend(cacheDir);
  const out: SubstituteRecord[] = [];
  for (const key of await b.list()) {
    if (!isRecordKey(key)) continue;
    out.push(parseRecord((await getBytes(b, key, MAX_RECORD_BYTES))!.toString("utf8"), key));
  }
  if (!(await b.exists(CACHE_INFO_KEY))) throw new Error(`${cacheDir}: not a published cache (no ${CACHE_INFO_KEY})`);
  return out;
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  log: string[]; // "GET /key 200", one per request (beamix serve -v)
  stop(): Promise<number | null>;
}

// `beamix serve --cache DIR -v` in a child process: the server gets a core of its own.
export async function startServeProcess(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", BEAMIX_MAIN, "serve", "--cache", cacheDir, "--port", "0", "--host", "127.0.0.1", "-v"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  let partial = "";
  child.stderr!.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop()!;
    log.push(...lines);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.on("close", (code) => reject(new Error(`beamix serve exited ${code}: ${log.join("\n")}`)));
  });
  return {
    url,
    child,
    log,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.on("close", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}

export function formatServeLoad(r: ServeLoadResult): string {
  const head = (name: string, f: PhaseFigures) => `${name.padEnd(15)} ${String(f.requests).padStart(5)} requests, ${f.failed} failed, ${f.seconds.toFixed(2)} s:`;
  const recs = (f: PhaseFigures) => `${f.recordsPerSecond} records/s (p50 ${f.recordLatencyMs.p50} ms, p95 ${f.recordLatencyMs.p95} ms)`;
  const arcs = (f: PhaseFigures) => `${f.archiveMBps} MB/s of archives (${(f.archiveBytes / 1e6).toFixed(2)} MB; p50 ${f.archiveLatencyMs.p50} ms, p95 ${f.archiveLatencyMs.p95} ms)`;
  return [
    `beamix serve at ${r.url}: ${r.clients} clients, ${r.items} items, ${r.rounds} fetch rounds, ${r.seconds.toFixed(2)} s in all`,
    `${head("realize", r.realize)} ${recs(r.realize)}, ${arcs(r.realize)}; ${r.verifiedItems} items verified in ${r.clients} stores`,
    `${head("fetch records", r.fetch.records)} ${recs(r.fetch.records)}`,
    `${head("fetch archives", r.fetch.archives)} ${arcs(r.fetch.archives)}`,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cache: { type: "string" },
      "trusted-key": { type: "string" },
      clients: { type: "string", default: "16" },
      rounds: { type: "string", default: "20" },
    },
  });
  if (!values.cache || !values["trusted-key"]) throw new Error("usage: node bench/serve-load.ts --cache DIR --trusted-key FILE [--clients 16] [--rounds 20]");
  const records = await cacheRecords(values.cache);
  const trustedKeys = await readPublicKeyFile(values["trusted-key"]);
  const work = await mkdtemp(join(tmpdir(), "beamix-serve-load-"));
  const server = await startServeProcess(values.cache);
  try {
    const r = await measureServeLoad({ url: server.url, records, trustedKeys, workDir: work, clients: Number(values.clients), rounds: Number(values.rounds) });
    process.stdout.write(formatServeLoad(r) + "\n");
    if (r.failures.length) throw new Error(`failures:\n${r.failures.join("\n")}`);
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
