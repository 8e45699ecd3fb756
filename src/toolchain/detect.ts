// Finds the Erlang/OTP, Elixir and rebar3 a build uses and the facts about them that go into
// derivations. One `erl` run gives the Erlang facts (~0.1 s): the one `beamix deps` started before
// its CLI loaded (early-erl.ts), else one started now, unless a VM of the same install that runs
// anyway reports them (offeredFacts: `beamix deps`' Elixir VM); Elixir's and rebar3's
// versions are read from their .app files without starting a VM. The result is cached, keyed by the inode,
// size, mtime and ctime of the files that define the toolchain, so later calls cost a few stats.
import { readFile, realpath } from "node:fs/promises";
import { dirname, join, resolve, sep, basename } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { readEscriptEntry } from "./escript.ts";
import { lookUpToolchain, saveCachedToolchain } from "./cache.ts";
import { appFileVersion, elixirAppFile, exists, type DetectOptions, type Located } from "./locate.ts";
import { ask, askErl, toolEnv, VM_ENV } from "./ask.ts";
import { takeEarlyErl } from "./early-erl.ts";

// The facts derivations depend on (see src/derivation/derivation.ts).
export interface ToolchainFacts {
  otpRelease: string; // erlang:system_info(otp_release), e.g. "25"
  otpVersion: string; // <root>/releases/<rel>/OTP_VERSION, e.g. "25.2.3"
  ertsVersion: string; // erlang:system_info(version)
  nifVersion: string; // erlang:system_info(nif_version)
  targetTriple: string; // erlang:system_info(system_architecture)
  elixirVersion: string | null; // null: no Elixir in this toolchain
  rebar3Version: string | null; // null: no rebar3
}

export interface ToolchainPaths {
  erlRoot: string; // code:root_dir(), e.g. /usr/lib/erlang
  erl: string;
  erlc: string;
  escript: string;
  ertsInclude: string | null; // <root>/erts-<vsn>/include (erl_nif.h), null if headers are not installed
  elixirRoot: string | null; // e.g. /usr/lib/elixir
  elixir: string | null;
  mix: string | null;
  rebar3: string | null; // the escript itself, symlinks resolved
}

export interface Toolchain extends ToolchainFacts {
  wordSize: number; // bytes, erlang:system_info(wordsize)
  paths: ToolchainPaths;
  binDirs: string[]; // PATH entries a build needs for these tools, in order
  // What a sandbox must bind read-only for the tools to run (besides /usr and the system
  // libraries, which the sandbox always has): the OTP root, the Elixir root, the rebar3
  // escript. rebar3 also needs /usr/bin/env and escript (in <erlRoot>/bin) on PATH.
  readOnlyBinds: string[];
}

interface ErlangFacts {
  otpRelease: string;
  otpVersion: string;
  ertsVersion: string;
  nifVersion: string;
  targetTriple: string;
  wordSize: number;
  root: string;
}

async function erlangFacts(erl: string): Promise<ErlangFacts> {
  return factsFromOutput(await askErl(erl).output, erl);
}

async function factsFromOutput(out: string, erl: string): Promise<ErlangFacts> {
  const lines = out.split("\n");
  if (lines.length < 6) throw new BeamixError(`unexpected output from ${erl}: ${JSON.stringify(out.slice(0, 200))}`);
  const [otpRelease, ertsVersion, nifVersion, targetTriple, rootDir, wordSize] = lines;
  const root = await realpath(rootDir);
  const otpVersionFile = join(root, "releases", otpRelease, "OTP_VERSION");
  let otpVersion: string;
  try {
    otpVersion = (await readFile(otpVersionFile, "utf8")).trim();
  } catch (err) {
    throw new BeamixError(`cannot read the OTP version from ${otpVersionFile}: ${errorMessage(err)}`);
  }
  return { otpRelease, ertsVersion, nifVersion, targetTriple, root, wordSize: Number(wordSize), otpVersion };
}

async function appVsn(file: string): Promise<string | undefined> {
  try {
    return appFileVersion(await readFile(file, "utf8"));
  } catch {
    return undefined;
  }
}

// The root of an Elixir install from its `elixir` script. A real install has the script in
// <root>/bin; anything else (a version manager's shim) is asked where its Elixir lives.
async function elixirRoot(elixirReal: string, erlBin: Promise<string>): Promise<string> {
  const candidate = dirname(dirname(elixirReal));
  if (basename(dirname(elixirReal)) === "bin" && exists(elixirAppFile(candidate))) return candidate;
  const lib = await ask(elixirReal, ["-e", "IO.write(:code.lib_dir(:elixir))"], toolEnv(await erlBin), "asking elixir where it is installed").output;
  return realpath(resolve(lib.trim(), "..", ".."));
}

async function elixirVersion(root: string): Promise<string> {
  const v = await appVsn(elixirAppFile(root));
  if (!v) throw new BeamixError(`cannot read the Elixir version from ${elixirAppFile(root)}`);
  return v;
}

// rebar3 is an escript whose archive holds rebar/ebin/rebar.app; read the version there, and
// only ask rebar3 itself (~0.25 s) when it is something else (a wrapper script).
async function rebar3Version(rebar3: string, erlBin: Promise<string>): Promise<string> {
  try {
    const app = await readEscriptEntry(rebar3, "rebar/ebin/rebar.app");
    const v = app && appFileVersion(app.toString("utf8"));
    if (v) return v;
  } catch {
    // not a readable archive: fall through to running it
  }
  const out = await ask(rebar3, ["version"], toolEnv(await erlBin), "asking rebar3 for its version").output;
  const m = /^rebar (\S+)/m.exec(out);
  if (!m) throw new BeamixError(`unexpected output from ${rebar3} version: ${JSON.stringify(out.trim().slice(0, 200))}`);
  return m[1];
}

function uniq(xs: (string | null)[]): string[] {
  return [...new Set(xs.filter((x): x is string => x !== null))];
}

// Drops paths inside another listed path: binding the parent already covers them.
function outermost(paths: string[]): string[] {
  return paths.filter((p) => !paths.some((q) => q !== p && p.startsWith(q.endsWith(sep) ? q : q + sep)));
}

// The facts another VM reported (the text ask.ts's ERL_EVAL prints), when they are this erl's: that VM
// ran with none of the variables that change what a VM does set, and reports the root of
// this erl's real install. Anything else is undefined: erl is asked.
async function offeredFactsOf(loc: Located, offered: Promise<string | undefined> | undefined): Promise<ErlangFacts | undefined> {
  if (!offered || !loc.erlRootGuess || VM_ENV.some((k) => process.env[k])) return undefined;
  const text = await offered.catch(() => undefined);
  if (text === undefined) return undefined;
  const facts = await factsFromOutput(text, loc.erl).catch(() => undefined);
  return facts?.root === loc.erlRootGuess ? facts : undefined;
}

async function probe(loc: Located, offered?: Promise<string | undefined>): Promise<Toolchain> {
  // An erl started before the CLI loaded (early-erl.ts) asked the same question sooner than the
  // VM that offers its facts answers: it is taken first.
  const early = takeEarlyErl(loc.erl);
  const asked = early ? early.then((out) => factsFromOutput(out, loc.erl)) : offeredFactsOf(loc, offered).then((f) => f ?? erlangFacts(loc.erl));
  // Elixir's root and version and rebar3's version are read from their files while erl boots;
  // only a wrapper or a shim is asked, in erl's environment, once erl has answered.
  const erlBinOf = asked.then((f) => join(f.root, "bin"));
  erlBinOf.catch(() => {}); // erl's failure is reported below
  const elixirRootAndVersion = async (real: string): Promise<[string, string]> => {
    const root = await elixirRoot(real, erlBinOf);
    return [root, await elixirVersion(root)];
  };
  // Failures in that order, whichever came first: erl's, then Elixir's, then rebar3's.
  const settled = await Promise.allSettled([
    asked,
    loc.elixirReal ? elixirRootAndVersion(loc.elixirReal) : Promise.resolve(null),
    loc.rebar3Real ? rebar3Version(loc.rebar3Real, erlBinOf) : Promise.resolve(null),
  ] as const);
  for (const r of settled) if (r.status === "rejected") throw r.reason;
  const [facts, elixir, rebar3Vsn] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [ErlangFacts, [string, string] | null, string | null];
  const [elixirRootDir, elixirVsn] = elixir ?? [null, null];
  const erlBin = join(facts.root, "bin");
  const ertsInclude = join(facts.root, `erts-${facts.ertsVersion}`, "include");
  const paths: ToolchainPaths = {
    erlRoot: facts.root,
    erl: join(erlBin, "erl"),
    erlc: join(erlBin, "erlc"),
    escript: join(erlBin, "escript"),
    ertsInclude: exists(join(ertsInclude, "erl_nif.h")) ? ertsInclude : null,
    elixirRoot: elixirRootDir,
    elixir: elixirRootDir ? join(elixirRootDir, "bin", "elixir") : null,
    mix: elixirRootDir ? join(elixirRootDir, "bin", "mix") : null,
    rebar3: loc.rebar3Real,
  };
  return {
    otpRelease: facts.otpRelease,
    otpVersion: facts.otpVersion,
    ertsVersion: facts.ertsVersion,
    nifVersion: facts.nifVersion,
    targetTriple: facts.targetTriple,
    wordSize: facts.wordSize,
    elixirVersion: elixirVsn,
    rebar3Version: rebar3Vsn,
    paths,
    binDirs: uniq([erlBin, elixirRootDir && join(elixirRootDir, "bin"), loc.rebar3Real && dirname(loc.rebar3Real)]),
    readOnlyBinds: outermost(uniq([facts.root, elixirRootDir, loc.rebar3Real])),
  };
}

// Detects the toolchain on PATH, or the one named by `opts`. `offeredFacts`, asked only when the
// cache has no answer: the Erlang facts another VM of the toolchain reports (offeredFactsOf).
export async function detectToolchain(opts: DetectOptions = {}, offeredFacts?: () => Promise<string | undefined> | undefined): Promise<Toolchain> {
  const { loc, key, dir, hit } = lookUpToolchain(opts);
  if (hit) return hit;
  const tc = await probe(loc, offeredFacts?.());
  if (key && dir) await saveCachedToolchain(dir, key, tc);
  return tc;
}

// A one-line description, e.g. for `beamix doctor` and build logs.
export function describeToolchain(tc: Toolchain): string {
  const parts = [`Erlang/OTP ${tc.otpVersion} (erts ${tc.ertsVersion}, NIF ${tc.nifVersion}, ${tc.targetTriple})`];
  parts.push(tc.elixirVersion ? `Elixir ${tc.elixirVersion}` : "no Elixir");
  parts.push(tc.rebar3Version ? `rebar3 ${tc.rebar3Version}` : "no rebar3");
  return parts.join(", ");
}
