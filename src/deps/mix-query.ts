// Asking Mix about a project (priv/elixir/deps_project.exs): its paths and its dependency
// declarations exactly as Mix's own dependency loader normalizes them, a git or path
// dependency's declarations, and the mix.rebar.config Mix writes for a rebar3 dependency.
// Mix runs with beamix's Hex SCM stand-in and an empty MIX_HOME, so no Hex archive is needed
// (or loaded) and nothing is fetched.
//
// `beamix deps` asks all of it in one Elixir VM (openMixSession), which also evaluates the
// project's compile-time config: starting a VM costs more than the rest of a run from a warm
// cache. The functions that ask one question each start a VM of their own.
import { spawn, type ChildProcess } from "node:child_process";
import { realpathSync, type Stats } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { getCompileCacheDir } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import type { Term } from "../erlang/term.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { decodeConfigEtf } from "../project/config-reader.ts";
import { PRIV_DIR, firstLine, runTool } from "../project/run-script.ts";
import { chosenToolchain, expectedToolchain, offerErlangFacts, toolchainEnv, type ExpectedToolchain } from "../toolchain/choice.ts";
import { sha256Hex } from "../util/sha256.ts";
import { childrenOf, decodeChildren, projectOf, rebarConfigOf, type DepChildren, type MixProjectInfo } from "./mix-answer-terms.ts";


const SCRIPT = join(PRIV_DIR, "elixir", "deps_project.exs");
const STANDIN = join(PRIV_DIR, "elixir", "hex_scm_standin.exs");
const MODULE = join(PRIV_DIR, "elixir", "deps_project.ex"); // what SCRIPT runs
const SESSION = join(PRIV_DIR, "elixir", "deps_session.exs");

// The chosen toolchain's bin directories first on the child's PATH: the `elixir` it runs (and
// the erl that runs) is the toolchain's; beamix's own PATH is unchanged. `binDirs`: those
// directories as expected before detection ends (ExpectedToolchain).
async function scriptEnv(mixEnv: string, home: string, binDirs?: string[]): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env, MIX_ENV: mixEnv, MIX_HOME: home, HEX_HOME: home, HEX_OFFLINE: "1" };
  delete env.MIX_EXS; // the project is named by its directory
  return toolchainEnv(binDirs ? { binDirs } : await chosenToolchain(), env);
}

async function runScript(args: string[], mixEnv: string, what: string): Promise<Term> {
  const home = await mkdtemp(join(tmpdir(), "beamix-mixhome-"));
  try {
    const out = await runTool("elixir", ["-r", STANDIN, SCRIPT, ...args], await scriptEnv(mixEnv, home));
    const line = out.stdout.split("\n").find((l) => l.startsWith("BEAMIX-ETF ") || l.startsWith("BEAMIX-ERROR "));
    if (!line) throw new BeamixError(`${what}: Mix could not read it: ${firstLine(out.stderr) || `elixir exited with ${out.code}`}`);
    if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${what}: ${line.slice("BEAMIX-ERROR ".length)}`);
    return binaryToTerm(Buffer.from(line.slice("BEAMIX-ETF ".length), "base64"));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}


async function checkMixProject(abs: string): Promise<void> {
  if (!(await stat(join(abs, "mix.exs")).then((s) => s.isFile(), () => false))) throw new BeamixError(`${abs}: not a Mix project (no mix.exs)`);
}


// The project in `dir` as Mix sees it in `mixEnv`.
export async function readMixProject(dir: string, mixEnv: string): Promise<MixProjectInfo> {
  const abs = resolve(dir);
  await checkMixProject(abs);
  const what = join(abs, "mix.exs");
  return projectOf(await runScript(["project", abs], mixEnv, what), abs, what);
}


// The declarations of the Mix project in `dir` (a git or path dependency), read as Mix reads
// a dependency: in its own env.
export async function readDepChildren(app: string, dir: string, env: string): Promise<DepChildren> {
  const what = join(dir, "mix.exs");
  return childrenOf(await runScript(["children", app, resolve(dir)], env, what), what);
}


// The mix.rebar.config Mix writes before compiling the rebar3 dependency in `dir`.
export async function mixRebarConfig(app: string, dir: string): Promise<Buffer> {
  return rebarConfigOf(await runScript(["rebar-config", app, resolve(dir)], "prod", join(dir, "rebar.config")), dir);
}

// One Elixir VM for all of a `beamix deps` run (deps_session.exs, deps_project.ex `session`):
// it starts at once on the project and its config; `children` and `rebarConfig` are asked of the same VM,
// one at a time in the order asked. `end` says nothing more will be asked (the VM then exits
// once it has answered); `close` ends it (or, aborting, stops it) and waits for it to exit.
export interface MixSession {
  project: Promise<MixProjectInfo>;
  // True when the project and its config were answered without starting a VM (mix-answers.ts).
  answeredFromCache?: Promise<boolean>;
  // The files the project's and its config's answers depend on, when those answers depend on
  // nothing else (mix-answers.ts); undefined when they may (a config that reads the environment).
  answerInputs?(): Promise<string[] | undefined>;
  // Mix's answers as it sent them (ETF), for a cache of answers (mix-answers.ts).
  raw?: Promise<{ project: Buffer; config: Buffer }>;
  // The Erlang facts the VM reported when it ran the expected toolchain (choice.ts
  // offerErlangFacts), else undefined; the PATH it ran with (mix-answers.ts keys on its tools).
  erlangFacts?: Promise<string | undefined>;
  path?: Promise<string | undefined>;
  childrenRaw?(app: string, dir: string, env: string): Promise<{ children: DepChildren; etf: Buffer }>;
  // The project's compile-time config: its config_path evaluated by Config.Reader for its
  // MIX_ENV, as readConfigFile does ({} when there is no such file).
  config: Promise<CompileConfig>;
  children(app: string, dir: string, env: string): Promise<DepChildren>;
  rebarConfig(app: string, dir: string): Promise<Buffer>;
  end(): void;
  close(abort?: boolean): Promise<void>; // abort: stop the VM rather than let it finish
}

// A question to the session, and how its failures read (as the one-question scripts' do).
interface Pending {
  resolve(etf: Buffer): void;
  reject(err: Error): void;
  failed(kind: "ERROR" | "CRASH", message: string): string;
  lost(reason: string): string; // the VM exited without answering (reason: its stderr, or its exit)
  timer?: NodeJS.Timeout;
}

// A project file that never finishes loading is stopped, as runTool stops it.
const SESSION_TIMEOUT_MS = 120_000;

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

class Session implements MixSession {
  readonly project: Promise<MixProjectInfo>;
  readonly config: Promise<CompileConfig>;
  readonly raw: Promise<{ project: Buffer; config: Buffer }>;
  readonly erlangFacts: Promise<string | undefined>;
  readonly path: Promise<string | undefined>;
  private readonly pending = new Map<string, Pending>();
  private readonly started: Promise<ChildProcess | undefined>; // undefined: no VM
  private nextId = 0;
  private ended = false;
  private readonly exits: Promise<void>[] = [];
  private gone: ((p: Pending) => Error) | undefined; // once there is no VM to answer
  private kill: (why?: string) => void = () => {};
  private home: string | undefined;
  private current: ChildProcess | undefined; // the VM whose lines are read
  private aborted = false;
  // While the current VM runs the expected toolchain unchecked: told whether to keep it (false:
  // its facts showed it is not the toolchain's; true: they showed it is, or it ended first, and
  // what it left unanswered is lost as with any VM).
  private checking: { expected: ExpectedToolchain; verdict(keep: boolean): void } | undefined;
  private factsFound: (facts: string | undefined) => void = () => {};
  private pathUsed: (path: string | undefined) => void = () => {};

  constructor(dir: string, mixEnv: string) {
    const abs = resolve(dir);
    const what = join(abs, "mix.exs");
    const project = this.expect("project", { failed: (_, m) => `${what}: ${m}`, lost: (r) => `${what}: Mix could not read it: ${r}` });
    let configPath = join(abs, "config", "config.exs"); // until the project says
    const config = this.expect("config", {
      failed: (kind, m) => (kind === "ERROR" ? `${configPath}: ${m}` : `${configPath}: could not be read: ${m}`),
      lost: (r) => `${configPath}: could not be read: ${r}`,
    });
    this.project = project.then((etf) => {
      const p = projectOf(binaryToTerm(etf), abs, what);
      configPath = resolve(p.configPath);
      return p;
    });
    this.config = config.then((etf) => decodeConfigEtf(etf, configPath).config);
    this.raw = Promise.all([project, config]).then(([p, c]) => ({ project: p, config: c }));
    // None is awaited when the session is closed first (or the config, when the project fails).
    this.project.catch(() => {});
    this.config.catch(() => {});
    this.raw.catch(() => {});
    this.erlangFacts = new Promise((resolve) => (this.factsFound = resolve));
    this.path = new Promise((resolve) => (this.pathUsed = resolve));
    this.started = this.start(abs, mixEnv).catch((err: Error) => {
      this.lose(() => err);
      return undefined;
    });
    // Settled whatever happens: toolchain detection may be waiting for them.
    void this.started.then(() => {
      this.factsFound(undefined);
      this.pathUsed(undefined);
    });
  }

  // The VM starts with the toolchain's tools first on its PATH, at once: with the tools the
  // toolchain's files say (expectedToolchain), without waiting for detection, and it goes on
  // when the root it reports first is the expected one; else it is stopped before it reads
  // anything of the project, and started again once detection has found the toolchain. When
  // detection can only end by asking erl (a fresh cache), the facts it would ask are those this
  // VM reports.
  private async start(abs: string, mixEnv: string): Promise<ChildProcess | undefined> {
    const [, loader, cache, expected] = await Promise.all([checkMixProject(abs), readFile(SESSION, "utf8"), compiledHelpers(), expectedToolchain()]);
    const home = (this.home = await mkdtemp(join(tmpdir(), "beamix-mixhome-")));
    const args = ["-e", loader, "--", cache ?? "", STANDIN, MODULE, "session", abs, mixEnv];
    if (expected) {
      const env = await scriptEnv(mixEnv, home, expected.binDirs);
      const keep = new Promise<boolean>((resolve) => (this.checking = { expected, verdict: resolve }));
      const child = this.spawnVm(args, env);
      // Closed meanwhile: no other VM is started.
      if ((await keep) || this.aborted) return this.running(child, env);
    }
    this.factsFound(undefined); // detection asks erl
    const env = await scriptEnv(mixEnv, home);
    return this.running(this.spawnVm(args, env), env);
  }

  // The VM that answers: told to go on (deps_session.exs waits for that line).
  private running(child: ChildProcess, env: NodeJS.ProcessEnv): ChildProcess {
    this.pathUsed(env.PATH);
    child.stdin!.write("go\n");
    if (this.ended) child.stdin!.end();
    return child;
  }

  // The VM whose lines are read from now on (none once the session was closed).
  private spawnVm(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
    if (this.aborted) throw new BeamixError("the Mix session was closed");
    const child = spawn("elixir", args, { env, stdio: ["pipe", "pipe", "pipe"] });
    this.current = child;
    const mine = () => this.current === child;
    let stdout = "";
    let stderr = "";
    let stopped: string | undefined;
    // A VM replaced before it answered anything: its end is no one's loss.
    const ended = (lost: () => void) => {
      if (!mine()) return;
      if (this.checking) this.checked(true);
      lost();
    };
    this.exits.push(
      new Promise<void>((done) => {
        child.on("error", (e: NodeJS.ErrnoException) => {
          ended(() => this.lose(() => (e.code === "ENOENT" ? new BeamixError("elixir was not found on PATH; it is needed to read this project") : e)));
          done();
        });
        child.on("close", (code) => {
          const reason = stopped ?? (firstLine(stderr) || `elixir exited with ${code}`);
          ended(() => this.lose((p) => new BeamixError(p.lost(reason))));
          done();
        });
      }),
    );
    this.kill = (why) => {
      stopped ??= why;
      child.kill("SIGKILL");
    };
    for (const p of this.pending.values()) this.arm(p); // each timer stops the VM current then
    child.stdin!.on("error", () => {}); // the VM is gone: its exit answers what is pending
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      for (let nl = stdout.indexOf("\n"); nl >= 0 && mine(); nl = stdout.indexOf("\n")) {
        this.line(stdout.slice(0, nl));
        stdout = stdout.slice(nl + 1);
      }
    });
    return child;
  }

  private checked(keep: boolean): void {
    const c = this.checking;
    this.checking = undefined;
    if (!keep) {
      const child = this.current;
      this.current = undefined; // nothing more it says is read
      child?.kill("SIGKILL");
    }
    c?.verdict(keep);
  }

  // The facts line of a VM started with the expected toolchain: its root decides (checked here,
  // before any later line is read).
  private facts(base64: string): void {
    const c = this.checking;
    if (!c) return;
    const text = Buffer.from(base64, "base64").toString("utf8");
    const root = text.split("\n")[4];
    let real: string | undefined;
    try {
      real = root ? realpathSync(root) : undefined;
    } catch {
      real = undefined;
    }
    const ok = real === c.expected.erlRoot;
    if (ok) this.factsFound(text);
    this.checked(ok);
  }

  // A question unanswered for this long: the VM is stopped, as runTool stops a script.
  private arm(p: Pending): void {
    p.timer ??= setTimeout(() => this.kill(`elixir was stopped after ${SESSION_TIMEOUT_MS / 1000} s`), SESSION_TIMEOUT_MS);
  }

  private line(line: string): void {
    if (line.startsWith("BEAMIX-FACTS ")) return this.facts(line.slice("BEAMIX-FACTS ".length));
    // Nothing before the facts line is an answer of the expected toolchain's VM.
    if (this.checking) return;
    const m = /^BEAMIX-REPLY (\S+) (ETF|ERROR|CRASH) ?(.*)$/.exec(line);
    const p = m ? this.pending.get(m[1]) : undefined;
    if (!m || !p) return;
    this.pending.delete(m[1]);
    clearTimeout(p.timer);
    if (m[2] === "ETF") p.resolve(Buffer.from(m[3], "base64"));
    else p.reject(new BeamixError(p.failed(m[2] as "ERROR" | "CRASH", m[3])));
  }

  // No VM answers any more: every question, asked or to come, fails so.
  private lose(error: (p: Pending) => Error): void {
    this.gone ??= error;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(this.gone(p));
    }
  }

  private expect(id: string, how: Pick<Pending, "failed" | "lost">): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const p: Pending = { resolve, reject, ...how };
      if (this.gone) return reject(this.gone(p));
      this.pending.set(id, p);
    });
  }

  private async ask(fields: string[], how: Pick<Pending, "failed" | "lost">): Promise<Term> {
    return binaryToTerm(await this.askRaw(fields, how));
  }

  private async askRaw(fields: string[], how: Pick<Pending, "failed" | "lost">): Promise<Buffer> {
    if (this.ended) throw new Error("the Mix session was ended before this question");
    const id = String(this.nextId++);
    const answer = this.expect(id, how);
    answer.catch(() => {});
    const child = await this.started;
    const p = this.pending.get(id);
    if (child && p) {
      this.arm(p);
      child.stdin!.write(`${id} ${fields.map(b64).join(" ")}\n`);
    }
    return answer;
  }

  async children(app: string, dir: string, env: string): Promise<DepChildren> {
    return (await this.childrenRaw(app, dir, env)).children;
  }

  async childrenRaw(app: string, dir: string, env: string): Promise<{ children: DepChildren; etf: Buffer }> {
    const what = join(dir, "mix.exs");
    const etf = await this.askRaw(["children", app, env, resolve(dir)], { failed: (_, m) => `${what}: ${m}`, lost: (r) => `${what}: Mix could not read it: ${r}` });
    return { children: decodeChildren(etf, dir), etf };
  }

  async rebarConfig(app: string, dir: string): Promise<Buffer> {
    const what = join(dir, "rebar.config");
    const t = await this.ask(["rebar-config", app, resolve(dir)], { failed: (_, m) => `${what}: ${m}`, lost: (r) => `${what}: Mix could not read it: ${r}` });
    return rebarConfigOf(t, dir);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    void this.started.then((child) => child?.stdin!.end());
  }

  async close(abort = false): Promise<void> {
    this.end();
    if (abort) {
      this.aborted = true;
      this.kill("the Mix session was closed"); // a VM still being checked is not waited for
      void this.started.then(() => this.kill("the Mix session was closed"));
    }
    await this.started;
    await Promise.all(this.exits);
    if (this.home) await rm(this.home, { recursive: true, force: true });
  }
}

// Where deps_session.exs keeps the stand-in and deps_project.ex compiled: in the CLI's compile
// cache (node:module's, which the CLI enables; with none, they are compiled on every run), in a
// directory only this user can write, since its files are loaded as code. Named after the
// sources; the script adds the Elixir and ERTS versions.
async function compiledHelpers(): Promise<string | undefined> {
  const root = getCompileCacheDir();
  const uid = process.getuid?.();
  if (root === undefined || uid === undefined) return undefined;
  const own = (st: Stats) => st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
  try {
    if (!own(await lstat(root))) return undefined;
    const dir = join(root, "beamix-elixir");
    await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    if (!own(await lstat(dir))) return undefined;
    const sources = await Promise.all([STANDIN, MODULE, SESSION].map((f) => readFile(f)));
    return join(dir, `deps-project-${sha256Hex(Buffer.concat(sources.flatMap((b) => [b, Buffer.from([0])]))).slice(0, 32)}`);
  } catch {
    return undefined;
  }
}


// The session also offers its VM's Erlang facts to toolchain detection (choice.ts).
export function openMixSession(dir: string, mixEnv: string): MixSession {
  const session = new Session(dir, mixEnv);
  offerErlangFacts(session.erlangFacts);
  return session;
}
