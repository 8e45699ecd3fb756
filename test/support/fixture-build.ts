// Builds the fixture corpus (test/fixtures) and runs each fixture's own tests.
// This is a test helper for the corpus itself, not beamix's builder: it reads
// the tables in test/fixtures/README.md, resolves each fixture's closure with
// Mix's rules for optional dependencies, and builds every distinct
// (package, inputs, compile-time config) once, in dependency order, in a
// temporary directory.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { matches } from "../../src/elixir/requirement.ts";
import { compareVersions } from "../../src/elixir/version.ts";

export type BuildTool = "rebar3" | "make" | "mix";

export interface FixtureDep {
  package: string;
  requirement: string;
  optional: boolean;
  // OTP application name, when it differs from the package name.
  app: string | null;
}

export interface Fixture {
  name: string;
  version: string;
  app: string;
  build: BuildTool;
  dir: string; // absolute
  deps: FixtureDep[];
  compileEnv: string[];
  consumer: boolean;
}

export const FIXTURES_DIR = path.resolve(import.meta.dirname, "../fixtures");
export const HEX_SCM_STANDIN = path.resolve(import.meta.dirname, "../../priv/elixir/hex_scm_standin.exs");

const COLUMNS = ["name", "version", "app", "build", "dir", "dependencies", "compile env"];

export function readFixtureTables(readme = path.join(FIXTURES_DIR, "README.md")): {
  packages: Fixture[];
  consumers: Fixture[];
} {
  const text = fs.readFileSync(readme, "utf8");
  const root = path.dirname(readme);
  return {
    packages: parseTable(section(text, "## Packages", readme), root, false, readme),
    consumers: parseTable(section(text, "## Consumers", readme), root, true, readme),
  };
}

function section(text: string, heading: string, file: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`${file}: no "${heading}" section`);
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(/\n## /);
  return end < 0 ? rest : rest.slice(0, end);
}

function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function parseTable(text: string, root: string, consumer: boolean, file: string): Fixture[] {
  const lines = text.split("\n").filter((l) => l.trim().startsWith("|"));
  const header = cells(lines[0] ?? "");
  if (header.join("|") !== COLUMNS.join("|")) {
    throw new Error(`${file}: table columns are "${header.join(", ")}", expected "${COLUMNS.join(", ")}"`);
  }
  return lines.slice(2).map((line) => {
    const [name, version, app, build, dir, deps, compileEnv] = cells(line);
    if (build !== "rebar3" && build !== "make" && build !== "mix") {
      throw new Error(`${file}: ${name} ${version}: unknown build tool "${build}"`);
    }
    return {
      name,
      version,
      app,
      build,
      dir: path.join(root, dir),
      deps: deps === "-" ? [] : deps.split(";").map((d) => parseDep(d.trim(), `${file}: ${name} ${version}`)),
      compileEnv: compileEnv === "-" ? [] : compileEnv.split(",").map((a) => a.trim()),
      consumer,
    };
  });
}

// "confetti ~> 0.3 (optional, app: confetti_app)"
function parseDep(text: string, where: string): FixtureDep {
  const m = /^([a-z0-9_]+)\s+([^()]+?)\s*(?:\(([^)]*)\))?$/.exec(text);
  if (!m) throw new Error(`${where}: cannot read dependency "${text}"`);
  const flags = (m[3] ?? "").split(",").map((f) => f.trim()).filter((f) => f !== "");
  let optional = false;
  let app: string | null = null;
  for (const flag of flags) {
    if (flag === "optional") optional = true;
    else if (flag.startsWith("app:")) app = flag.slice(4).trim();
    else throw new Error(`${where}: unknown dependency flag "${flag}" in "${text}"`);
  }
  return { package: m[1], requirement: m[2], optional, app };
}

export const depApp = (dep: FixtureDep): string => dep.app ?? dep.package;

// The fixture harness uses beamix's own implementation of Elixir requirements.
export function satisfies(version: string, requirement: string): boolean {
  return matches(version, requirement);
}

// Mix's closure rules: every dependency of the root is included (optional or
// not); below the root only non-optional dependencies pull packages in. For
// each package, the newest version meeting every requirement on it is chosen.
export function resolveClosure(root: Fixture, packages: Fixture[]): Map<string, Fixture> {
  const requirementsOf = (chosen: Map<string, Fixture>): Map<string, string[]> => {
    const reqs = new Map<string, string[]>();
    const add = (dep: FixtureDep) => reqs.set(dep.package, [...(reqs.get(dep.package) ?? []), dep.requirement]);
    root.deps.forEach(add);
    for (const fx of chosen.values()) fx.deps.filter((d) => !d.optional).forEach(add);
    return reqs;
  };
  let chosen = new Map<string, Fixture>();
  for (let round = 0; round < 50; round++) {
    const reqs = requirementsOf(chosen);
    const next = new Map<string, Fixture>();
    for (const [name, rs] of reqs) {
      const candidates = packages
        .filter((p) => p.name === name && rs.every((r) => satisfies(p.version, r)))
        .sort((a, b) => compareVersions(b.version, a.version));
      if (candidates.length === 0) {
        throw new Error(`${root.name} ${root.version}: no version of ${name} meets ${rs.join(" and ")}`);
      }
      next.set(name, candidates[0]);
    }
    const same =
      next.size === chosen.size && [...next].every(([name, fx]) => chosen.get(name) === fx);
    if (same) return next;
    chosen = next;
  }
  throw new Error(`${root.name} ${root.version}: dependency resolution does not settle`);
}

// One build: a fixture with its inputs (its declared dependencies that are in
// the closure) and, when compile-time config matters to it, the root's config.
export interface PlanNode {
  key: string;
  fixture: Fixture;
  inputs: PlanNode[];
  config: string | null;
}

export function plan(root: Fixture, packages: Fixture[]): PlanNode {
  const closure = resolveClosure(root, packages);
  const configFile = path.join(root.dir, "config", "config.exs");
  const rootConfig = root.consumer && fs.existsSync(configFile) ? fs.readFileSync(configFile, "utf8") : null;
  const memo = new Map<Fixture, PlanNode>();
  const node = (fx: Fixture): PlanNode => {
    const known = memo.get(fx);
    if (known) return known;
    const inputs = fx.deps.filter((d) => closure.has(d.package)).map((d) => node(closure.get(d.package)!));
    // Mix compiles dependencies under the root's config, and validates the
    // compile-time config recorded in every loaded dependency's .app: a package
    // that reads compile-time config, or that builds against one that did,
    // needs the root's config to compile.
    const config =
      fx !== root && (fx.compileEnv.length > 0 || inputs.some((i) => i.config !== null)) ? rootConfig : null;
    const hash = createHash("sha256")
      .update(JSON.stringify([fx.name, fx.version, inputs.map((i) => i.key).sort(), config]))
      .digest("hex")
      .slice(0, 12);
    const result = { key: `${hash}-${fx.name}-${fx.version}`, fixture: fx, inputs, config };
    memo.set(fx, result);
    return result;
  };
  return node(root);
}

export function transitiveInputs(node: PlanNode): PlanNode[] {
  const seen = new Map<string, PlanNode>();
  const walk = (n: PlanNode) => {
    for (const i of n.inputs) {
      if (!seen.has(i.key)) {
        seen.set(i.key, i);
        walk(i);
      }
    }
  };
  walk(node);
  return [...seen.values()];
}

export interface Outcome {
  key: string;
  fixture: Fixture;
  built: boolean;
  // null when the fixture's tests were not asked for.
  tested: boolean | null;
  // <out>/lib/<app>-<version> for packages; null for consumers and failures.
  libDir: string | null;
  log: string;
}

interface Step {
  cmd: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface BuilderOptions {
  work: string;
  concurrency: number;
  // Keys whose fixture's own tests run after the build.
  testKeys: Set<string>;
  stepTimeoutMs?: number;
}

export class FixtureBuilder {
  private readonly opts: BuilderOptions;
  private readonly outcomes = new Map<string, Promise<Outcome>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(opts: BuilderOptions) {
    this.opts = opts;
    fs.mkdirSync(path.join(opts.work, "build"), { recursive: true });
    fs.mkdirSync(path.join(opts.work, "out"), { recursive: true });
  }

  realize(node: PlanNode): Promise<Outcome> {
    let outcome = this.outcomes.get(node.key);
    if (!outcome) {
      outcome = this.realizeUncached(node);
      this.outcomes.set(node.key, outcome);
    }
    return outcome;
  }

  private async realizeUncached(node: PlanNode): Promise<Outcome> {
    const inputs = await Promise.all(transitiveInputs(node).map((i) => this.realize(i)));
    const failed = inputs.filter((i) => !i.built);
    if (failed.length > 0) {
      const names = failed.map((f) => `${f.fixture.name} ${f.fixture.version}`).join(", ");
      return { key: node.key, fixture: node.fixture, built: false, tested: null, libDir: null, log: `inputs failed: ${names}\n` };
    }
    await this.acquire();
    try {
      return await this.buildAndTest(node, inputs);
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.opts.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  private async buildAndTest(node: PlanNode, inputs: Outcome[]): Promise<Outcome> {
    const fx = node.fixture;
    const dir = path.join(this.opts.work, "build", node.key);
    const libDir = fx.consumer ? null : path.join(this.opts.work, "out", node.key, "lib", `${fx.app}-${fx.version}`);
    const libs = inputs.map((i) => path.dirname(i.libDir!));
    fs.cpSync(fx.dir, dir, { recursive: true });
    const env = this.baseEnv(dir, libs);
    const { build, test, install } = this.recipe(node, dir, env, inputs);
    let log = "";
    const runAll = async (steps: Step[]): Promise<boolean> => {
      for (const step of steps) {
        const result = await runStep(step, this.opts.stepTimeoutMs ?? 180_000);
        log += `$ (cd ${step.cwd} && ${step.cmd} ${step.args.join(" ")})\n${result.output}[exit ${result.code}]\n`;
        if (result.code !== 0) return false;
      }
      return true;
    };
    const built = await runAll(build);
    if (built && libDir) installLib(install, libDir);
    const tested = !built ? null : this.opts.testKeys.has(node.key) ? await runAll(test) : null;
    fs.writeFileSync(path.join(this.opts.work, `${node.key}.log`), log);
    return { key: node.key, fixture: fx, built, tested, libDir: built ? libDir : null, log };
  }

  // Only what the tools need: nothing from the caller's MIX_*, HEX_*, REBAR_*
  // or ERL_* settings leaks in.
  private baseEnv(dir: string, libs: string[]): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      LANG: "C.UTF-8",
      HOME: path.join(dir, ".home"),
      TMPDIR: path.join(dir, ".tmp"),
      ERL_LIBS: libs.join(":"),
    };
  }

  private recipe(
    node: PlanNode,
    dir: string,
    env: Record<string, string>,
    inputs: Outcome[],
  ): { build: Step[]; test: Step[]; install: string } {
    fs.mkdirSync(env.HOME, { recursive: true });
    fs.mkdirSync(env.TMPDIR, { recursive: true });
    const fx = node.fixture;
    const step = (cmd: string, args: string[], extra: Record<string, string> = {}): Step => ({
      cmd,
      args,
      cwd: dir,
      env: { ...env, ...extra },
    });
    switch (fx.build) {
      case "rebar3": {
        const rebar = { REBAR_CACHE_DIR: path.join(dir, ".rebar-cache") };
        const paths = inputs.map((i) => path.join(i.libDir!, "ebin")).join(":");
        return {
          build: [step("rebar3", ["bare", "compile", "--paths", paths], rebar)],
          test: [step("rebar3", ["eunit"], rebar)],
          install: dir,
        };
      }
      case "make":
        // The committed ebin/*.app is stale; with it present make may do nothing.
        for (const f of fs.readdirSync(path.join(dir, "ebin"))) {
          if (f.endsWith(".app")) fs.rmSync(path.join(dir, "ebin", f));
        }
        return { build: [step("make", [])], test: [step("make", ["eunit"])], install: dir };
      case "mix": {
        if (node.config !== null) {
          fs.rmSync(path.join(dir, "config"), { recursive: true, force: true });
          fs.mkdirSync(path.join(dir, "config"));
          fs.writeFileSync(path.join(dir, "config", "config.exs"), node.config);
        }
        // Mix 1.14 loads a direct dependency's .app from _build/ENV/lib/APP:
        // without these links it warns about undefined applications and does
        // not validate the dependencies' compile-time config.
        const buildLib = path.join(dir, "_build", "test", "lib");
        fs.mkdirSync(buildLib, { recursive: true });
        for (const i of inputs) fs.symlinkSync(i.libDir!, path.join(buildLib, i.fixture.app));
        const mix = { MIX_ENV: "test", MIX_HOME: path.join(dir, ".mix-home") };
        const task = (name: string) => step("elixir", ["-r", HEX_SCM_STANDIN, "-S", "mix", name, "--no-deps-check"], mix);
        return { build: [task("compile")], test: [task("test")], install: path.join(buildLib, fx.app) };
      }
    }
  }
}

// Copies ebin, priv and include (symlinks dereferenced) to the library dir.
function installLib(from: string, libDir: string): void {
  fs.mkdirSync(libDir, { recursive: true });
  for (const sub of ["ebin", "priv", "include"]) {
    const src = path.join(from, sub);
    if (fs.existsSync(src)) fs.cpSync(src, path.join(libDir, sub), { recursive: true, dereference: true });
  }
}

function runStep(step: Step, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(step.cmd, step.args, { cwd: step.cwd, env: step.env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => {
      chunks.push(Buffer.from(`\n[killed after ${timeoutMs} ms]\n`));
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, output: `${Buffer.concat(chunks).toString()}${err.message}\n` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString() });
    });
  });
}

// Reads what the corpus checks need from a written .app file.
export function readAppFile(file: string): { app: string; vsn: string; applications: string[]; text: string } {
  const text = fs.readFileSync(file, "utf8");
  const app = /^\s*\{application,\s*'?([a-z0-9_]+)'?\s*,/.exec(text)?.[1];
  const vsn = /\{vsn,\s*"([^"]*)"\}/.exec(text)?.[1];
  const apps = /\{applications,\s*\[([^\]]*)\]\}/.exec(text)?.[1];
  if (app === undefined || vsn === undefined || apps === undefined) throw new Error(`${file}: not an .app file`);
  const applications = apps
    .split(",")
    .map((a) => a.trim().replace(/^'|'$/g, ""))
    .filter((a) => a !== "");
  return { app, vsn, applications, text };
}
