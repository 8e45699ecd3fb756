// `beamix deps` when nothing changed, answered before the command line is even parsed: the
// full path's own early end (deps-state.ts) still loads the whole CLI, opens the store's
// database, detects the toolchain and reads Mix's answers, which costs several times the work
// left to do. A run that ended with everything in place records here what its output would be
// next time and every fact that output rests on; the next run with the same command line,
// working directory and environment compares those facts (a few hundred stat calls) and, when
// all hold, prints the recorded output. On any doubt it does nothing, and the
// full path runs (and records again).
//
// The facts, beyond the deps-state of the project (its key, and the identity of every file and
// directory it left in deps/ and _build/):
// - the command line, working directory and the environment variables that can change the
//   outcome (PATH, HOME, locale, and every BEAMIX_, MIX_, HEX_, XDG_, ERL_, ELIXIR_, REBAR_ one)
//   (not whether the output is a terminal: the report printed does not depend on it, and asking
//   costs Node the making of its stdout stream);
// - the identity (inode, size, mtime, ctime) of the files Mix's answers about the project came
//   from (mix.exs, the config files Config.Reader read) and of mix.lock: recorded only when those
//   answers, and the dependencies' answers, depend on nothing else (mix-answers.ts answerInputs:
//   not when they read an environment variable, and it never keeps one that reads the clock);
// - the identity of the toolchain's files, as its cache keys it (never recorded behind a shim);
// - the identity of every store item the project uses and of its GC roots. An item is removed
//   only by moving its directory away first (store-core.ts), so a directory with the same inode
//   and ctime is still the valid item; a removed root sends the run down the full path, which
//   adds it again.
// Commands with effects beyond the project (--push), or whose output is not the report (--check,
// --timeline), definition directories (-L) and named toolchains are never replayed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "../config/paths.ts";
import { detectOptionsFor } from "../toolchain/choice.ts";
import { toolchainFileStamps } from "../toolchain/locate.ts";
import type { FileStamp } from "../toolchain/cache.ts";
import { writeFileAtomicSync } from "../util/atomic-write.ts";
import { readDepsState, stampOf, stampsUnchanged, type Stamp } from "./deps-state.ts";
import type { SettledRun } from "./deps.ts";

const FORMAT = "beamix-deps-replay/1";
// BEAMIX_REPLAY only says whether to replay (src/cli/entry.ts).
const RELEVANT_ENV = /^(?!BEAMIX_REPLAY$)(PATH|HOME|LANG|LANGUAGE|LC_[A-Z]+|(BEAMIX|MIX|HEX|XDG|ERL|ELIXIR|REBAR)_[A-Za-z0-9_]*)$/;
const NEVER_REPLAYED = ["--push", "--to", "--sign-with", "--priority", "--check", "--timeline", "-L", "--load-path", "--toolchain", "--erlang", "--elixir", "--rebar3", "--help", "-h"];

export interface RunOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

// Everything a run is asked with: the arguments after `deps`, where, and how.
export interface RunCall {
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

interface ReplayRecord {
  format: typeof FORMAT;
  call: { argv: string[]; cwd: string; env: [string, string][] };
  stateFile: string;
  stateKey: string;
  inputs: InputStamp[];
  toolchain: FileStamp[];
  stamps: Stamp[]; // store items and GC roots
  output: RunOutput;
}

export function currentCall(argv: readonly string[]): RunCall {
  return { argv, cwd: process.cwd(), env: process.env };
}

export const replayable = (argv: readonly string[]): boolean => !argv.some((a) => NEVER_REPLAYED.some((f) => a === f || a.startsWith(`${f}=`)));

export function callOf(c: RunCall): ReplayRecord["call"] {
  const env = Object.entries(c.env)
    .filter((e): e is [string, string] => RELEVANT_ENV.test(e[0]) && e[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return { argv: [...c.argv], cwd: c.cwd, env };
}

// Two 32-bit FNV-1a lanes with different offsets, over UTF-16 code units: a name, not a proof
// (the record's own call is compared in full), and no node:crypto to load before the answer.
export function nameHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

function recordFile(c: RunCall): string {
  const root = c.env.BEAMIX_CACHE_DIR || cacheDir();
  return join(root, "deps-state", `replay-${nameHash(JSON.stringify(callOf(c)))}.json`);
}

// An input's identity, or a mark that it does not exist (an absent config file is an input too).
type InputStamp = Stamp | [path: string, absent: "-"];
const inputStamp = (path: string): InputStamp => stampOf(path) ?? [path, "-"];

const sameStamps = (a: readonly FileStamp[], b: readonly FileStamp[]): boolean => JSON.stringify(a) === JSON.stringify(b);

// The output the last run recorded for this call, when nothing it rests on changed.
export async function replayUnchangedRun(c: RunCall): Promise<RunOutput | undefined> {
  if (!replayable(c.argv)) return undefined;
  try {
    const r = JSON.parse(readFileSync(recordFile(c), "utf8")) as ReplayRecord;
    if (r?.format !== FORMAT || JSON.stringify(r.call) !== JSON.stringify(callOf(c))) return undefined;
    const state = readDepsState(r.stateFile);
    if (state?.key !== r.stateKey) return undefined;
    const toolchain = await toolchainFileStamps(detectOptionsFor({}, c.env));
    if (toolchain === null || !sameStamps(toolchain, r.toolchain)) return undefined;
    if (!r.inputs.every((s) => JSON.stringify(inputStamp(s[0])) === JSON.stringify(s))) return undefined;
    if (!stampsUnchanged(r.stamps) || !stampsUnchanged(state.stamps)) return undefined;
    return r.output;
  } catch {
    return undefined; // missing, malformed, unreadable: the full path decides
  }
}

// Records what the next identical call of a run that settled (deps.ts) would print. Best effort.
export async function recordUnchangedRun(c: RunCall, settled: SettledRun, output: RunOutput, toolchainStamps?: FileStamp[]): Promise<void> {
  if (!replayable(c.argv) || settled.inputs === undefined) return;
  try {
    const toolchain = toolchainStamps ?? (await toolchainFileStamps(detectOptionsFor({}, c.env)));
    if (toolchain === null) return;
    const stamps: Stamp[] = [];
    for (const path of [...settled.items, ...settled.roots]) {
      const s = stampOf(path);
      if (!s) return;
      stamps.push(s);
    }
    const inputs = settled.inputs.map(inputStamp);
    const record: ReplayRecord = { format: FORMAT, call: callOf(c), stateFile: settled.stateFile, stateKey: settled.stateKey, inputs, toolchain, stamps, output };
    writeFileAtomicSync(recordFile(c), JSON.stringify(record) + "\n");
  } catch {
    // the next run takes the full path
  }
}
