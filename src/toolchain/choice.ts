// The toolchain of this run: the one chosen with --toolchain DIR / BEAMIX_TOOLCHAIN (and --erlang,
// --elixir, --rebar3 for the parts), else the one on PATH. Detected once per run and used by
// everything that starts a VM: builds, the package reader, `beamix deps`' Mix queries, the config
// reader. Children are given the toolchain's bin directories first on their PATH; beamix's own
// PATH is left as it is.
//
// DIR is an install prefix (bin/erl, and bin/elixir, bin/rebar3 when it has them) or an OTP root.
// A chosen DIR is the whole toolchain: a tool it lacks is not looked for on PATH (name it with
// --elixir or --rebar3). The parts alone replace only themselves; the rest comes from PATH.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { Toolchain } from "./detect.ts";
import { lookUpToolchain } from "./cache.ts";
import { expectedLayout, type DetectOptions } from "./locate.ts";

export interface ToolchainChoice {
  toolchain?: string; // --toolchain DIR (else BEAMIX_TOOLCHAIN)
  erlang?: string; // --erlang DIR
  elixir?: string; // --elixir DIR or FILE
  rebar3?: string; // --rebar3 FILE
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function erlangDir(text: string, what: string): string {
  const abs = resolve(text);
  if (!isDirectory(abs)) throw new UsageError(`${what} ${abs}: not a directory`);
  if (!isExecutable(join(abs, "bin", "erl"))) throw new UsageError(`${what} ${abs}: no executable bin/erl in it (want an OTP root or an install prefix)`);
  return abs;
}

// Checked as the command line is parsed: a wrong path is a usage error naming it.
export const toolchainDirOption = (text: string): string => erlangDir(text, "--toolchain");
export const erlangDirOption = (text: string): string => erlangDir(text, "--erlang");

export function elixirOption(text: string): string {
  const abs = resolve(text);
  if (isExecutable(abs)) return abs;
  if (isDirectory(abs) && isExecutable(join(abs, "bin", "elixir"))) return join(abs, "bin", "elixir");
  throw new UsageError(`--elixir ${abs}: neither an elixir executable nor a directory with bin/elixir`);
}

export function rebar3Option(text: string): string {
  const abs = resolve(text);
  if (!isExecutable(abs)) throw new UsageError(`--rebar3 ${abs}: not an executable file`);
  return abs;
}

// What detectToolchain is asked for, from the choice (already checked) and BEAMIX_TOOLCHAIN.
export function detectOptionsFor(choice: ToolchainChoice, env: NodeJS.ProcessEnv = process.env): DetectOptions {
  const opts: DetectOptions = {};
  let dir = choice.toolchain;
  if (dir === undefined && env.BEAMIX_TOOLCHAIN) dir = erlangDir(env.BEAMIX_TOOLCHAIN, "BEAMIX_TOOLCHAIN");
  if (dir !== undefined) {
    opts.erlRoot = dir;
    const elixir = join(dir, "bin", "elixir");
    const rebar3 = join(dir, "bin", "rebar3");
    if (isExecutable(elixir)) opts.elixirBin = elixir;
    if (isExecutable(rebar3)) opts.rebar3 = rebar3;
    opts.searchPath = ""; // the chosen directory is the whole toolchain
  }
  if (choice.erlang !== undefined) opts.erlRoot = choice.erlang;
  if (choice.elixir !== undefined) opts.elixirBin = choice.elixir;
  if (choice.rebar3 !== undefined) opts.rebar3 = choice.rebar3;
  return opts;
}

let chosen: ToolchainChoice = {};
let detected: Promise<Toolchain> | undefined;
let expected: Promise<ExpectedToolchain | undefined> | undefined;
let offered: Promise<string | undefined> | undefined;

// Set once per run, as the command line is parsed (src/cli/toolchain-options.ts).
export function chooseToolchain(choice: ToolchainChoice): void {
  chosen = choice;
  detected = undefined;
  expected = undefined;
  offered = undefined;
}

// Whether this run's toolchain was named (command line or BEAMIX_TOOLCHAIN) rather than left to PATH.
export function toolchainGiven(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.values(chosen).some((v) => v !== undefined) || !!env.BEAMIX_TOOLCHAIN;
}

export function chosenDetectOptions(): DetectOptions {
  return detectOptionsFor(chosen);
}

// Detected once per run: commands ask for it from several places at once.
export function chosenToolchain(): Promise<Toolchain> {
  if (!detected) {
    try {
      const opts = chosenDetectOptions();
      // Loaded here: what only chooses (the replay of an unchanged `beamix deps`) never detects.
      detected = import("./detect.ts").then((m) => m.detectToolchain(opts, () => offered));
    } catch (err) {
      detected = Promise.reject(err); // BEAMIX_TOOLCHAIN naming no toolchain
    }
  }
  return detected;
}

// What the chosen toolchain's detection will find, known without starting anything: its OTP
// root and bin directories, as the toolchain cache has them, else as its files say (a real
// install, locate.ts expectedLayout). A VM started with them first on its PATH (toolchainEnv)
// before detection ends must report that OTP root (code:root_dir()), else it is not the
// toolchain's. Undefined when only detection can tell.
export interface ExpectedToolchain {
  erlRoot: string;
  binDirs: string[];
}

export function expectedToolchain(): Promise<ExpectedToolchain | undefined> {
  expected ??= (async () => {
    const { loc, hit } = lookUpToolchain(chosenDetectOptions());
    if (hit) return { erlRoot: hit.paths.erlRoot, binDirs: hit.binDirs };
    return expectedLayout(loc) ?? undefined;
  })().catch(() => undefined); // detection reports what is wrong
  return expected;
}

// The Erlang facts a VM of the expected toolchain will report (the text ask.ts's ERL_EVAL
// prints; undefined when it will not), for detection to use instead of starting erl. Offered
// before detection needs them (the VM is started as detection starts): detection takes the
// offer there is when its cache has no answer, and waits for it, so what is offered must never
// wait for detection itself.
export function offerErlangFacts(facts: Promise<string | undefined>): void {
  offered = facts;
}

// A child's environment with the toolchain's bin directories first on PATH, so that the elixir
// (and the erl it runs, the escript, mix, rebar3) it finds is the toolchain's.
export function toolchainEnv(tc: Pick<Toolchain, "binDirs">, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = (env.PATH ?? "").split(delimiter).filter((d) => d !== "" && !tc.binDirs.includes(d));
  return { ...env, PATH: [...tc.binDirs, ...rest].join(delimiter) };
}
