// Mix's answers about a project, kept between runs of `beamix deps`, so that a run in which none
// of their inputs changed starts no Elixir VM (starting one costs more than the rest of a warm
// run). A MixSession that answers from <cache dir>/mix-answers/ and opens the real session
// (mix-query.ts) only when an answer is missing or may be stale.
//
// An entry is found by what every answer depends on before any file is read: the project's
// directory (or, for an entry whose answers move with the project, the content of its mix.exs:
// relocate-answers.ts), MIX_ENV, every MIX_* and HEX_* variable, the Elixir and Erlang installs it runs
// (their files' identity, as the toolchain cache keys them) and beamix's own helper sources.
// It then holds, for each answer, the files Mix read for it with their SHA-256: mix.exs and
// every config file Config.Reader imported for the project and its config; a dependency's
// mix.exs for its declarations; the rebar files for a mix.rebar.config. An answer is used only
// when every one of its files still hashes the same.
//
// Files whose evaluation can read anything else (other files, the clock) are never cached: a
// mix.exs or config file that calls System, File, Code, :os, :file, Port or Path.wildcard is
// asked of Mix on every run, except for System.get_env/fetch_env of a variable named by a
// literal, whose value then counts as part of the file. Anything unreadable or malformed is a miss.
//
// Answers that move with the project are also shared through binary caches: `beamix deps --push`
// publishes them, signed, under a key that names no file of the machine (sharedKey: the Elixir
// and OTP versions instead of their files), and a run that has none kept asks its substituters
// for them before it starts a VM (src/substitute/format/mix-answers.ts). What comes from a cache
// is used as what is kept here: each answer only while its files hash the same.
import { readFile, mkdir, realpath, stat } from "node:fs/promises";
import { BeamixError } from "../errors.ts";
import { basename, dirname, join, resolve } from "node:path";
import { cacheDir as defaultCacheDir } from "../config/paths.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { decodeConfigEtf } from "../project/config-reader.ts";
import { PRIV_DIR } from "../project/run-script.ts";
import { appFileVersion, elixirAppFile, findExecutable, fileStamp } from "../toolchain/locate.ts";
import { chosenToolchain, expectedToolchain, offerErlangFacts, toolchainEnv } from "../toolchain/choice.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { sha256Hex } from "../util/sha256.ts";
import { isUnder, movableEtf, movableText, moveEtf, movePath, moveText, type Under } from "./relocate-answers.ts";
import { decodeChildren, decodeProject, type DepChildren, type MixProjectInfo } from "./mix-answer-terms.ts";
import { SHARED_ANSWERS_FORMAT } from "../substitute/format/mix-answers.ts";
import { openMixSession, type MixSession } from "./mix-query.ts";

const FORMAT = "beamix-mix-answers/3";
const DIR = "mix-answers";
// What evaluating a file can read besides the files and variables the key covers.
const UNCACHEABLE = /\bSystem\.|\bFile\.|\bCode\.|:os\.|:file\.|\bPort\.|Path\.wildcard|\bMix\.shell\b/;
// The same for an Erlang script (rebar.config.script, which Mix evaluates): the environment, files,
// other nodes, ports, the code path.
const ERLANG_UNCACHEABLE = /\b(?:os|file|filelib|code|rpc|erl_prim_loader|net_adm)\s*:|\bopen_port\b/;
// An environment variable read by name, with a literal default or none: Phoenix's config/test.exs
// reads MIX_TEST_PARTITION so, and many packages' mix.exs read a build flag so.
const ENV_READ = /\bSystem\.(?:get_env|fetch_env!?)\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*(?:,\s*"[^"\\\n]*"\s*)?\)/g;
// What the toolchain says of itself: every key names the toolchain already.
const TOOLCHAIN_READ = /\bSystem\.(?:version|otp_release)\(\s*\)/g;
// What marks a file hash that covers the values of the variables the file reads.
const ENV_MARK = "+env:";

type FileHashes = [path: string, sha256: string | null][]; // null: the file does not exist

interface Entry {
  format: typeof FORMAT;
  dir?: string; // the project directory the answers are about
  project?: { files: FileHashes; project: string; config: string }; // ETF, base64
  children: Record<string, string>; // app \0 env \0 hash of the dir's mix.exs -> ETF, base64
  rebar: Record<string, string>; // app \0 hash of the rebar files -> mix.rebar.config, base64
}

async function fileHash(path: string): Promise<{ sha: string | null; text: string | null }> {
  try {
    const data = await readFile(path);
    return { sha: sha256Hex(data), text: data.toString("utf8") };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { sha: null, text: null };
    throw err;
  }
}

// A file's hash as an answer depends on it: its bytes, and the values of the variables it reads
// by name (ENV_READ), hashed (the values may be secrets). Undefined when it reads anything else
// that no key covers (UNCACHEABLE).
function answerHash(path: string, sha: string, text: string): string | undefined {
  if (path.endsWith(".script") && ERLANG_UNCACHEABLE.test(text)) return undefined;
  if (UNCACHEABLE.test(text.replace(ENV_READ, "").replace(TOOLCHAIN_READ, ""))) return undefined;
  const names = [...new Set(Array.from(text.matchAll(ENV_READ), (m) => m[1]))].sort();
  if (names.length === 0) return sha;
  return `${sha}${ENV_MARK}${sha256Hex(JSON.stringify(names.map((n) => [n, process.env[n] ?? null])))}`;
}

// The files' hashes now, or undefined when one of them reads what no key covers.
async function hashFiles(paths: readonly string[]): Promise<FileHashes | undefined> {
  const out: FileHashes = [];
  for (const path of paths) {
    const { sha, text } = await fileHash(path);
    const hash = sha === null || text === null ? null : answerHash(path, sha, text);
    if (hash === undefined) return undefined;
    out.push([path, hash]);
  }
  return out;
}

// Whether an answer depends on the environment beyond the key (a file hash with ENV_MARK):
// such answers are kept here but never shared, since what was read may be a secret.
const readsVariables = (hash: string | null): boolean => hash !== null && hash.includes(ENV_MARK);

async function unchanged(files: FileHashes): Promise<boolean> {
  const now = await hashFiles(files.map(([p]) => p)).catch(() => undefined);
  return now !== undefined && now.every(([, sha], i) => sha === files[i][1]);
}

// The MIX_* and HEX_* variables (those `keep` keeps), sorted: what Mix may read besides files.
function mixVariables(keep: (name: string) => boolean): [string, string | undefined][] {
  return Object.entries(process.env)
    .filter(([k]) => (k.startsWith("MIX_") || k.startsWith("HEX_")) && keep(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

// beamix's own helpers that the session runs: other helpers may answer otherwise. Read once per
// process: both keys (entryKeys, sharedKey) name them.
let helpers: Promise<string[]> | undefined;
function helperHashes(): Promise<string[]> {
  helpers ??= Promise.all(["deps_project.ex", "deps_session.exs", "hex_scm_standin.exs"].map(async (f) => sha256Hex(await readFile(join(PRIV_DIR, "elixir", f)))));
  return helpers;
}

// The PATH the session's VM runs with (mix-query.ts): the chosen toolchain's tools first, as
// its files say (without waiting for detection, which may be waiting for that VM) or as detected.
async function sessionPath(): Promise<string> {
  return toolchainEnv((await expectedToolchain()) ?? (await chosenToolchain()), process.env).PATH ?? "";
}

// Everything an entry depends on before any project file is read. The Elixir and Erlang are the
// ones the session's VM would run (sessionPath). Two keys: one for this directory, and one, for
// answers that move with the project, by its mix.exs.
async function entryKeys(dir: string, path: string, mixExsSha: string | null, mixEnv: string): Promise<{ here: string; movable?: string } | undefined> {
  const [elixir, erl] = await Promise.all([findExecutable("elixir", path), findExecutable("erl", path)]);
  if (!elixir || !erl) return undefined; // the real session says what is missing
  const base = { format: FORMAT, mixEnv, env: mixVariables(() => true), tools: await Promise.all([elixir, erl].map(fileStamp)), helpers: await helperHashes() };
  const key = (where: object) => sha256Hex(JSON.stringify({ ...base, where }));
  return { here: key({ dir }), ...(mixExsSha ? { movable: key({ mixExs: mixExsSha }) } : {}) };
}

// Where a project's directory is in shared answers: a path no project has, so that moving the
// answers to the project's directory rewrites exactly the paths that were under the publisher's.
export const SHARED_DIR = "/.beamix-shared-project";
// Variables that never change what Mix answers and must not be spread, even hashed, to a cache.
const SECRET_VAR = /KEY|TOKEN|SECRET|PASS|AUTH/;

// How long a run waits for shared answers before it asks Mix instead.
const SHARED_WAIT_MS = 2000;

// The versions of the Elixir and OTP installs the session's VM runs, as their files say (no VM
// is started): undefined unless both are real installs (not a version manager's shim).
async function installedVersions(path: string): Promise<{ elixir: string; otp: string; erts: string } | undefined> {
  const [elixir, expected] = await Promise.all([findExecutable("elixir", path), expectedToolchain()]);
  if (!elixir || !expected) return undefined;
  const real = await realpath(elixir);
  if (basename(dirname(real)) !== "bin") return undefined;
  const app = await readFile(elixirAppFile(dirname(dirname(real))), "utf8");
  const startErl = (await readFile(join(expected.erlRoot, "releases", "start_erl.data"), "utf8")).trim().split(/\s+/);
  if (startErl.length !== 2 || !/^[0-9][0-9.]*$/.test(startErl[1])) return undefined;
  const otp = (await readFile(join(expected.erlRoot, "releases", startErl[1], "OTP_VERSION"), "utf8")).trim();
  const vsn = appFileVersion(app);
  return vsn ? { elixir: vsn, otp, erts: startErl[0] } : undefined;
}

// The key of a project's shared answers: entryKeys' movable key with versions instead of the
// tools' files, and the usual config file's hash, so that branches with another config do not
// take each other's place in a cache. Undefined when the versions cannot be read from files.
async function sharedKey(dir: string, path: string, mixExsSha: string, mixEnv: string): Promise<string | undefined> {
  const versions = await installedVersions(path).catch(() => undefined);
  if (!versions) return undefined;
  const config = (await fileHash(join(dir, "config", "config.exs"))).sha;
  const env = mixVariables((k) => !SECRET_VAR.test(k));
  return sha256Hex(JSON.stringify({ format: SHARED_ANSWERS_FORMAT, mixEnv, env, versions, helpers: await helperHashes(), mixExs: mixExsSha, config }));
}

// Where shared answers come from: the substituters (Substituters.mixAnswers).
export interface SharedAnswersSource {
  mixAnswers(key: string, signal?: AbortSignal): Promise<string | undefined>;
}

function parseEntry(text: string): Entry | undefined {
  try {
    const e = JSON.parse(text) as Entry;
    if (e?.format === FORMAT && typeof e.children === "object" && e.children !== null && typeof e.rebar === "object" && e.rebar !== null) return e;
  } catch {
    // damaged: a miss
  }
  return undefined;
}

async function readEntry(file: string): Promise<Entry | undefined> {
  return parseEntry(await readFile(file, "utf8").catch(() => ""));
}

// Whether every answer of the entry moves with the project (relocate-answers.ts).
function movable(e: Entry, dir: string, under: Under = isUnder): boolean {
  const p = e.project;
  if (p && !(p.files.every(([f]) => under(f, dir)) && movableEtf(unb64(p.project), dir, under) && movableEtf(unb64(p.config), dir, under))) return false;
  return Object.values(e.children).every((c) => movableEtf(unb64(c), dir, under)) && Object.values(e.rebar).every((r) => movableText(unb64(r), dir, under));
}

// Under the directory for answers from a cache: Mix's own paths are expanded, so a "." or ".."
// component (which would lead out of the project once moved) means they are not Mix's.
const plainlyUnder: Under = (path, dir) => isUnder(path, dir) && !path.split("/").some((s) => s === "." || s === "..");

function moveEntry(e: Entry, from: string, to: string): Entry {
  const p = e.project;
  const mapValues = (o: Record<string, string>, f: (b: Buffer) => Buffer) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, b64(f(unb64(v)))]));
  return {
    format: FORMAT,
    dir: to,
    ...(p ? { project: { files: p.files.map(([f, sha]): [string, string | null] => [movePath(f, from, to), sha]), project: b64(moveEtf(unb64(p.project), from, to)), config: b64(moveEtf(unb64(p.config), from, to)) } } : {}),
    children: mapValues(e.children, (b) => moveEtf(b, from, to)),
    rebar: mapValues(e.rebar, (b) => moveText(b, from, to)),
  };
}

// Where an entry is kept: by directory (here) or by mix.exs (movable), and the PATH its key
// names the tools on (sessionPath). Nothing when no key could be made.
interface Where {
  here?: string;
  movable?: string;
  path?: string;
  mixExsSha?: string;
}

const b64 = (b: Buffer) => b.toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64");

// `shared`: where to look for shared answers when none are kept here (settled before a VM
// starts: undefined asks none).
export function openCachedMixSession(dir: string, mixEnv: string, cacheRoot: string = defaultCacheDir(), shared?: Promise<SharedAnswersSource | undefined>): CachedMixSession {
  return new CachedSession(resolve(dir), mixEnv, join(cacheRoot, DIR), shared);
}

export interface CachedMixSession extends MixSession {
  // The answers to publish for other machines, once the session is closed: undefined when they
  // do not move with the project (or are not complete). `key` for mixAnswersKey, `body` its text.
  shareable(): Promise<{ key: string; body: string } | undefined>;
  // The key shared answers of the project are filed under (sharedKey), whatever is kept here;
  // undefined when the versions cannot be read from files.
  sharedKey(): Promise<string | undefined>;
}

class CachedSession implements CachedMixSession {
  readonly project: Promise<MixProjectInfo>;
  readonly config: Promise<CompileConfig>;
  readonly answeredFromCache: Promise<boolean>;
  private readonly dir: string;
  private readonly mixEnv: string;
  private readonly cache: string;
  private readonly shared: Promise<SharedAnswersSource | undefined> | undefined;
  private readonly loaded: Promise<{ entry: Entry; where: Promise<Where> }>;
  private factsFound: (facts: Promise<string | undefined> | undefined) => void = () => {};
  private real: MixSession | undefined;
  private learnt = false;
  private readVariables = false; // a dependency's answer read environment variables
  private failed = false;
  private closing = false;
  private decided: (fromCache: boolean) => void = () => {};

  constructor(dir: string, mixEnv: string, cache: string, shared?: Promise<SharedAnswersSource | undefined>) {
    this.dir = dir;
    this.mixEnv = mixEnv;
    this.cache = cache;
    this.shared = shared;
    shared?.catch(() => {});
    this.loaded = this.load();
    const answered = this.loaded.then((l) => this.projectAnswers(l.entry));
    answered.catch(() => (this.failed = true));
    this.project = answered.then((a) => a.project);
    this.config = answered.then((a) => a.config);
    // Settled as soon as the entry is found valid or not, not when a VM has answered: a caller
    // that waits for it must not lose the time the VM takes on a miss.
    this.answeredFromCache = new Promise((resolve) => (this.decided = resolve));
    answered.then(
      (a) => this.decided(a.cached),
      () => this.decided(false),
    );
    this.project.catch(() => {});
    this.config.catch(() => {});
    // The VM's Erlang facts for toolchain detection (offerErlangFacts), when one starts for the
    // project; offered now, before detection asks, and settled without waiting for detection.
    offerErlangFacts(new Promise((resolve) => (this.factsFound = resolve)));
    void expectedToolchain().then((e) => e === undefined && this.factsFound(undefined));
    void this.answeredFromCache.then((cached) => cached && this.factsFound(undefined));
    answered.catch(() => this.factsFound(undefined));
  }

  private async load(): Promise<{ entry: Entry; where: Promise<Where> }> {
    const empty: Entry = { format: FORMAT, dir: this.dir, children: {}, rebar: {} };
    // No answers kept at all (a fresh cache directory) and none to look for elsewhere: Mix is
    // asked at once, and where its answers are to be kept is worked out meanwhile.
    const kept = await stat(this.cache).then(() => true, () => false);
    if (!kept && !(await this.shared?.catch(() => undefined))) {
      const where = this.where();
      where.catch(() => {});
      return { entry: empty, where };
    }
    const where = await this.where();
    const { here, movable: movableFile } = where;
    if (!here) return { entry: empty, where: Promise.resolve(where) };
    const found = kept ? ((await readEntry(here)) ?? (movableFile ? await readEntry(movableFile) : undefined)) : undefined;
    if (!found) return { entry: (await this.sharedEntry(where)) ?? empty, where: Promise.resolve(where) };
    // Answers learnt in another checkout of the same project: moved here (relocate-answers.ts).
    let entry = found ? { ...found, dir: this.dir } : empty;
    if (found?.dir && found.dir !== this.dir) {
      try {
        entry = moveEntry(found, found.dir, this.dir);
      } catch {
        entry = empty; // malformed: ask Mix
      }
    }
    return { entry, where: Promise.resolve(where) };
  }

  // The entry's files (entryKeys) and the PATH its key names the tools on.
  private async where(): Promise<Where> {
    const mixExs = await fileHash(join(this.dir, "mix.exs")).catch(() => ({ sha: null }));
    const path = await sessionPath().catch(() => undefined);
    const keys = path === undefined ? undefined : await entryKeys(this.dir, path, mixExs.sha, this.mixEnv).catch(() => undefined);
    if (!keys) return {};
    return { here: join(this.cache, `${keys.here}.json`), movable: keys.movable && join(this.cache, `${keys.movable}.json`), path, ...(mixExs.sha ? { mixExsSha: mixExs.sha } : {}) };
  }

  // Answers another machine published for this project (none kept here), moved here and kept
  // here at close; undefined when no cache has trusted ones.
  private async sharedEntry(where: Where): Promise<Entry | undefined> {
    const source = await this.shared?.catch(() => undefined);
    if (!source || !where.path || !where.mixExsSha) return undefined;
    const key = await sharedKey(this.dir, where.path, where.mixExsSha, this.mixEnv).catch(() => undefined);
    if (!key) return undefined;
    // A cache that is slow to answer (or dead: its time-out is 30 s) must not hold the VM back
    // for long, nor keep the process alive with a request nobody waits for.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), SHARED_WAIT_MS).unref();
    const gaveUp = new Promise<undefined>((resolve) => stop.signal.addEventListener("abort", () => resolve(undefined)));
    const body = await Promise.race([source.mixAnswers(key, stop.signal).catch(() => undefined), gaveUp]);
    clearTimeout(timer);
    const e = body ? parseEntry(body) : undefined;
    if (!e || e.dir !== SHARED_DIR) return undefined;
    // Project answers say which files they came from; ones that do not name mix.exs are not ours.
    if (e.project && !(Array.isArray(e.project.files) && e.project.files.some((f) => Array.isArray(f) && f[0] === `${SHARED_DIR}/mix.exs`))) delete e.project;
    try {
      if (!movable(e, SHARED_DIR, plainlyUnder)) return undefined;
      const entry = moveEntry(e, SHARED_DIR, this.dir);
      this.learnt = true;
      return entry;
    } catch {
      return undefined; // malformed: ask Mix
    }
  }

  async sharedKey(): Promise<string | undefined> {
    try {
      const w = await (await this.loaded).where;
      return w.path && w.mixExsSha ? await sharedKey(this.dir, w.path, w.mixExsSha, this.mixEnv) : undefined;
    } catch {
      return undefined;
    }
  }

  async shareable(): Promise<{ key: string; body: string } | undefined> {
    const { entry, where } = await this.loaded;
    const w = await where;
    if (!entry.project || !w.path || !w.mixExsSha || this.failed) return undefined;
    // Answers that read environment variables stay here: the config they hold may carry a secret.
    if (entry.project.files.some(([, hash]) => readsVariables(hash))) return undefined;
    const keep = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.includes(ENV_MARK)));
    const shared: Entry = { ...entry, children: keep(entry.children), rebar: keep(entry.rebar) };
    try {
      if (!movable(shared, this.dir)) return undefined;
      const key = await sharedKey(this.dir, w.path, w.mixExsSha, this.mixEnv);
      return key ? { key, body: JSON.stringify(moveEntry(shared, this.dir, SHARED_DIR)) } : undefined;
    } catch {
      return undefined;
    }
  }

  // The real session, started at the first miss; never once closing began (a VM started then
  // would outlive the run).
  private session(): MixSession {
    if (this.closing && !this.real) throw new BeamixError("the Mix session was closed");
    if (!this.real) {
      this.real = openMixSession(this.dir, this.mixEnv);
      this.factsFound(this.real.erlangFacts);
    }
    return this.real;
  }

  private async projectAnswers(entry: Entry): Promise<{ project: MixProjectInfo; config: CompileConfig; cached: boolean }> {
    const cached = entry.project;
    if (cached && (await unchanged(cached.files))) {
      try {
        const project = decodeProject(unb64(cached.project), this.dir);
        return { project, config: decodeConfigEtf(unb64(cached.config), project.configPath).config, cached: true };
      } catch {
        // a malformed entry: ask Mix
      }
    }
    this.decided(false);
    const real = this.session();
    const [project, config, raw] = await Promise.all([real.project, real.config, real.raw]);
    if (raw) {
      const { imports } = decodeConfigEtf(raw.config, project.configPath);
      const files = await hashFiles([join(this.dir, "mix.exs"), resolve(project.configPath), ...imports.map((f) => resolve(f))]);
      if (files) {
        entry.project = { files, project: b64(raw.project), config: b64(raw.config) };
        this.learnt = true;
      } else delete entry.project;
    }
    return { project, config, cached: false };
  }

  // The files the project's answers came from, for a record that compares only files (the
  // unchanged-run replay, the checkout restore): undefined when an answer of this run also read
  // environment variables.
  async answerInputs(): Promise<string[] | undefined> {
    await this.project.catch(() => {});
    const { entry } = await this.loaded;
    if (this.readVariables || entry.project?.files.some(([, hash]) => readsVariables(hash))) return undefined;
    return entry.project?.files.map(([path]) => path);
  }

  async children(app: string, dir: string, env: string): Promise<DepChildren> {
    const { entry } = await this.loaded;
    const mixExs = join(dir, "mix.exs");
    const files = await hashFiles([mixExs]);
    if (files && readsVariables(files[0][1])) this.readVariables = true;
    const key = files ? `${app}\0${env}\0${files[0][1]}` : undefined;
    const hit = key ? entry.children[key] : undefined;
    if (hit !== undefined) {
      try {
        return decodeChildren(unb64(hit), dir);
      } catch {
        // a malformed entry: ask Mix
      }
    }
    const real = this.session();
    if (!real.childrenRaw) return real.children(app, dir, env);
    const { children, etf } = await real.childrenRaw(app, dir, env);
    if (key) {
      entry.children[key] = b64(etf);
      this.learnt = true;
    }
    return children;
  }

  async rebarConfig(app: string, dir: string): Promise<Buffer> {
    const { entry } = await this.loaded;
    const files = await hashFiles([join(dir, "rebar.config"), join(dir, "rebar.config.script")]);
    const key = files ? `${app}\0${sha256Hex(JSON.stringify(files.map(([, sha]) => sha)))}` : undefined;
    const hit = key ? entry.rebar[key] : undefined;
    if (hit !== undefined) return unb64(hit);
    const answer = await this.session().rebarConfig(app, dir);
    if (key) {
      entry.rebar[key] = b64(answer);
      this.learnt = true;
    }
    return answer;
  }

  end(): void {
    this.real?.end();
  }

  // Keeps what was learnt when the run went well (a failed run may have learnt half).
  async close(abort = false): Promise<void> {
    this.closing = true;
    this.factsFound(undefined); // no VM starts from now on
    this.end();
    await this.real?.close(abort);
    if (abort || this.failed || !this.learnt) return;
    const { entry, where } = await this.loaded;
    const { here, movable: movableFile, path } = await where;
    // Answers of a VM that ran other tools than those the keys name (the toolchain was not the
    // one its files said) are not kept.
    if (this.real && (await this.real.path) !== path) return;
    // Answers that move with the project are kept by its mix.exs, for every checkout of it.
    const file = movableFile && movable(entry, this.dir) ? movableFile : here;
    if (!file) return;
    await mkdir(this.cache, { recursive: true, mode: 0o700 }).catch(() => {});
    await writeFileAtomic(file, JSON.stringify(entry) + "\n").catch(() => {}); // best effort: the next run asks Mix
  }
}
