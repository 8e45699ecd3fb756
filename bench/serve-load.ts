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
// Two more measurements of the server under abuse (issue 12), also on loopback only:
//   peak RSS   256 clients at once read every record and archive of `beamix serve --store` (or
//              --cache); the server's peak resident set (VmHWM) and the failed requests
//              (goal: under 150 MB, none failed);
//   slowloris  300 connections held half-open (re-opened when the server drops them) while a
//              fixed number of legitimate requests is made: their success rate (goal: 100%).
//
//   node bench/serve-load.ts --cache DIR --trusted-key FILE [--clients 16] [--rounds 20]
// serves the published cache DIR with `beamix serve --cache DIR` (a child process) and prints
// the figures.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openStore } from "../src/store/store.ts";
import { getBytes, readOnly, type CacheBackend, type CacheBody, type GetOptions } from "../src/substitute/backends/backend.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { HttpBackend } from "../src/substitute/backends/http-backend.ts";
import { readPublicKeyFile, type PublicKey } from "../src/signing/keys.ts";
import { CACHE_INFO_KEY, isRecordKey, RECORD_SUFFIX } from "../src/substitute/format/layout.ts";
import { MAX_RECORD_BYTES, parseRecord, type SubstituteRecord } from "../src/substitute/format/record.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";

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
  peakRssBytes(): Promise<number>; // the server's resident set high-water mark so far (Linux)
  stop(): Promise<number | null>;
}

// What to serve: a cache directory (a string, or `cache`) or a store, with more CLI arguments.
export type ServeWhat = string | { cache?: string; store?: string; signWith?: string; args?: string[]; verbose?: boolean };

// `beamix serve --cache DIR -v` (or --store DIR) in a child process: the server gets a core of its own.
export async function startServeProcess(what: ServeWhat, env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const w = typeof what === "string" ? { cache: what } : what;
  const source = w.store !== undefined ? ["--store", w.store, ...(w.signWith ? ["--sign-with", w.signWith] : [])] : ["--cache", w.cache!];
  const verbose = w.verbose === false ? [] : ["-v"];
  const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", BEAMIX_MAIN, "serve", ...source, "--port", "0", "--host", "127.0.0.1", ...verbose, ...(w.args ?? [])], {
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
    child.on("close", (code) => reject(new Error(`beamix serve exited ${code}: ${[...log, partial].join("\n").trim()}`)));
  });
  return {
    url,
    child,
    log,
    peakRssBytes: async () => {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
    },
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

// ---- peak RSS under many clients ----

export interface PeakRssResult {
  clients: number;
  requests: number;
  failed: number;
  archiveBytes: number;
  peakRssBytes: number; // the server's VmHWM at the end
  seconds: number;
  failures: string[]; // the first few
}

// `clients` clients at once, each reading every record and then every archive `rounds` times,
// one request at a time, checking each archive against its record.
export async function measurePeakRss(opts: { server: ServeProcess; records: SubstituteRecord[]; clients?: number; rounds?: number; timeoutMs?: number; deadlineMs?: number }): Promise<PeakRssResult> {
  const clients = opts.clients ?? 256;
  const rounds = opts.rounds ?? 2;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = performance.now();
  const deadline = started + (opts.deadlineMs ?? 120_000);
  let requests = 0;
  let archiveBytes = 0;
  const failures: string[] = [];
  const one = async () => {
    const b = new HttpBackend(opts.server.url);
    for (let round = 0; round < rounds; round++) {
      for (const r of opts.records) {
        for (const key of [`${r.drvHash}${RECORD_SUFFIX}`, r.url]) {
          requests++;
          try {
            const bytes = await getBytes(b, key, key === r.url ? r.fileSize : MAX_RECORD_BYTES, { idleTimeoutMs: timeoutMs });
            if (!bytes) throw new Error("not found");
            if (key === r.url) {
              if (bytes.length !== r.fileSize || createHash("sha256").update(bytes).digest("hex") !== r.fileHash) throw new Error("not the archive its record describes");
              archiveBytes += bytes.length;
            }
          } catch (err) {
            failures.push(`GET ${key}: ${(err as Error).message}`);
          }
        }
      }
    }
  };
  await within(deadline, "the peak RSS run", Promise.all(Array.from({ length: clients }, one)));
  return {
    clients,
    requests,
    failed: failures.length,
    archiveBytes,
    peakRssBytes: await opts.server.peakRssBytes(),
    seconds: round((performance.now() - started) / 1000, 3),
    failures: failures.slice(0, 10),
  };
}

// The records `beamix serve` hands out for these derivations (a store signs them on request).
export async function servedRecords(url: string, drvHashes: readonly string[]): Promise<SubstituteRecord[]> {
  const b = new HttpBackend(url);
  return Promise.all(
    drvHashes.map(async (h) => {
      const key = `${h}${RECORD_SUFFIX}`;
      const text = await getBytes(b, key, MAX_RECORD_BYTES);
      if (!text) throw new Error(`${url}/${key}: not served`);
      return parseRecord(text.toString("utf8"), key);
    }),
  );
}

// ---- slowloris ----

export interface SlowlorisResult {
  slowloris: number; // connections kept half-open
  opened: number; // half-open connections opened in all (the server drops them at its header deadline)
  heldAtEnd: number;
  legitimate: number;
  succeeded: number;
  seconds: number;
  failures: string[];
}

// Keeps `slowloris` connections half-open (a request head never finished, a header line a second)
// while `clients` clients make `requests` requests each, `gapMs` apart: a record, then its archive.
// Bounded: at most ten times `slowloris` connections are opened, and the run has a deadline.
export async function measureSlowloris(opts: {
  url: string;
  records: SubstituteRecord[];
  slowloris?: number;
  clients?: number;
  requests?: number;
  gapMs?: number;
  timeoutMs?: number;
  deadlineMs?: number;
}): Promise<SlowlorisResult> {
  const count = opts.slowloris ?? 300;
  const clients = opts.clients ?? 8;
  const perClient = opts.requests ?? 30;
  const gapMs = opts.gapMs ?? 200;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const started = performance.now();
  const deadline = started + (opts.deadlineMs ?? 60_000);
  const { hostname, port } = new URL(opts.url);
  const open = new Set<Socket>();
  let opened = 0;
  let stopping = false;
  const drip = setInterval(() => {
    for (const s of open) s.write("X-Slow: 1\r\n");
  }, 1000);
  const openOne = (): void => {
    if (stopping || opened >= 10 * count) return;
    opened++;
    const s = connect({ host: hostname, port: Number(port) });
    s.on("connect", () => {
      open.add(s);
      s.write("GET /beamix-cache-info HTTP/1.1\r\nHost: x\r\n");
    });
    s.on("data", () => {}); // a 408, when the server gives up on it
    s.on("error", () => {});
    s.on("close", () => {
      open.delete(s);
      setTimeout(openOne, 50); // the attacker comes back
    });
  };
  for (let i = 0; i < count; i++) openOne();
  while (open.size < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  let legitimate = 0;
  let succeeded = 0;
  const failures: string[] = [];
  const client = async (c: number) => {
    const b = new HttpBackend(opts.url);
    for (let i = 0; i < perClient; i++) {
      const r = opts.records[(c + i) % opts.records.length];
      const key = i % 2 === 0 ? `${r.drvHash}${RECORD_SUFFIX}` : r.url;
      legitimate++;
      try {
        const bytes = await getBytes(b, key, key === r.url ? r.fileSize : MAX_RECORD_BYTES, { idleTimeoutMs: timeoutMs, deadlineMs: timeoutMs });
        if (!bytes) throw new Error("not found");
        if (key === r.url && createHash("sha256").update(bytes).digest("hex") !== r.fileHash) throw new Error("not the archive its record describes");
        succeeded++;
      } catch (err) {
        failures.push(`GET ${key}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, gapMs));
    }
  };
  try {
    await within(deadline, "the slowloris run", Promise.all(Array.from({ length: clients }, (_, c) => client(c))));
  } finally {
    stopping = true;
    clearInterval(drip);
  }
  const heldAtEnd = open.size;
  for (const s of open) s.destroy();
  return { slowloris: count, opened, heldAtEnd, legitimate, succeeded, seconds: round((performance.now() - started) / 1000, 3), failures: failures.slice(0, 10) };
}

export interface ServeAbuseResult {
  store: PeakRssResult;
  cache: PeakRssResult;
  slowloris: SlowlorisResult;
}

// The three figures of issue 12, each against a fresh `beamix serve` child with its default
// limits: peak RSS of --store and of --cache under `clients` clients, and the slowloris run
// (against --cache). The store's archives are kept under workDir, not in the user's cache.
export async function measureServeAbuse(opts: { cacheDir: string; storeDir: string; secretKeyPath: string; workDir: string; clients?: number; slowloris?: number }): Promise<ServeAbuseResult> {
  const env = { ...process.env, BEAMIX_CACHE_DIR: join(opts.workDir, "serve-cache-dir") };
  const records = await cacheRecords(opts.cacheDir);
  const run = async <T>(what: ServeWhat, work: (server: ServeProcess) => Promise<T>): Promise<T> => {
    const server = await startServeProcess(what, env);
    try {
      return await work(server);
    } finally {
      await server.stop();
    }
  };
  const store = await run({ store: opts.storeDir, signWith: opts.secretKeyPath, verbose: false }, async (server) =>
    measurePeakRss({ server, records: await servedRecords(server.url, records.map((r) => r.drvHash)), clients: opts.clients }),
  );
  const cache = await run({ cache: opts.cacheDir, verbose: false }, (server) => measurePeakRss({ server, records, clients: opts.clients }));
  const slowloris = await run({ cache: opts.cacheDir, verbose: false }, (server) => measureSlowloris({ url: server.url, records, slowloris: opts.slowloris }));
  return { store, cache, slowloris };
}

// Rows for bench/run.ts's substitutes table: measurement, baseline, beamix, ratio, goal.
export function serveAbuseRows(r: ServeAbuseResult): string[][] {
  const MB = 1e6;
  const rss = (what: string, p: PeakRssResult) => [
    `${what}: peak RSS, ${p.clients} clients at once (${p.requests} requests)`,
    "-",
    `${(p.peakRssBytes / MB).toFixed(1)} MB, ${p.failed} failed`,
    `${(p.peakRssBytes / (150 * MB)).toFixed(2)}x the goal`,
    "< 150 MB, 0 failed",
  ];
  const s = r.slowloris;
  return [
    rss("serve --store", r.store),
    rss("serve --cache", r.cache),
    [
      `serve --cache: legitimate requests while ${s.slowloris} slowloris connections are open`,
      "-",
      `${((100 * s.succeeded) / Math.max(1, s.legitimate)).toFixed(1)}% (${s.succeeded} of ${s.legitimate})`,
      "-",
      "100%",
    ],
  ];
}

export function formatPeakRss(what: string, r: PeakRssResult): string {
  return `${what}: ${r.clients} clients, ${r.requests} requests, ${r.failed} failed, ${(r.archiveBytes / 1e6).toFixed(1)} MB of archives in ${r.seconds.toFixed(2)} s; peak RSS ${(r.peakRssBytes / 1048576).toFixed(1)} MiB`;
}

export function formatSlowloris(r: SlowlorisResult): string {
  const rate = r.legitimate === 0 ? 0 : (100 * r.succeeded) / r.legitimate;
  return `${r.slowloris} slowloris connections held (${r.opened} opened in all, ${r.heldAtEnd} open at the end): ${r.succeeded} of ${r.legitimate} legitimate requests succeeded (${rate.toFixed(1)}%) in ${r.seconds.toFixed(2)} s`;
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
