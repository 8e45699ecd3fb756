// A modern Erlang/OTP and Elixir built from Debian's source packages, under a cache directory
// outside the repository (BEAMIX_TOOLCHAINS_CACHE, else $XDG_CACHE_HOME/beamix-toolchains, else
// ~/.cache/beamix-toolchains), each built once and reused while its install is complete:
//
//   apt/                          the private apt configuration (debian-source.ts)
//   src/                          the upstream tarballs
//   build/                        build trees and logs (build/NAME.log)
//   otp-VSN/                      `make install` of OTP, .beamix-built once complete
//   elixir-VSN-otp-VSN/           `make install` of Elixir, built with that OTP
//   otpVSN-elixirVSN/bin/         the toolchain: links to both bin/ directories and to rebar3,
//                                 what BEAMIX_TOOLCHAIN (or --toolchain) names
//
// Builds run at the lowest priority with two jobs, without docs, and OTP with only the
// applications Elixir, Mix, Hex, rebar3 and the tests need. The first run takes tens of minutes.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { DebianSources } from "./debian-source.ts";

// What OTP is built with; every other application in lib/ is configured out.
export const OTP_APPLICATIONS = [
  "kernel", "stdlib", "compiler", "sasl", // the runtime, Elixir and releases
  "crypto", "public_key", "ssl", "inets", "asn1", // Hex, Mix's fetching, rebar3
  "syntax_tools", "tools", "parsetools", "runtime_tools", // Mix (cover, leex/yecc), rebar3
  // rebar3 and packages' build steps; not debugger (needs wx) nor common_test (Debian's tarball
  // leaves out the JavaScript its install copies)
  "xmerl", "eunit", "edoc",
  "erl_interface", // NIFs and ports that link ei
];

const BUILT = ".beamix-built";
const JOBS = "2";

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BEAMIX_TOOLCHAINS_CACHE) return env.BEAMIX_TOOLCHAINS_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "beamix-toolchains");
}

export interface ToolchainSpec {
  suite: string; // Debian suite the sources come from
  erlang: string; // source package names
  elixir: string;
}

export const TRIXIE: ToolchainSpec = { suite: "trixie", erlang: "erlang", elixir: "elixir-lang" };

const log = (msg: string) => process.stderr.write(`toolchains: ${msg}\n`);

// Runs a build step niced, its output in the log file; on failure names the log and its end.
function step(what: string, cmd: string, args: string[], opts: { cwd: string; log: string; env?: NodeJS.ProcessEnv }): void {
  const fd = openSync(opts.log, "a");
  try {
    const r = spawnSync("nice", ["-n", "19", cmd, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", fd, fd] });
    if (r.status !== 0) {
      const tail = readFileSync(opts.log, "utf8").split("\n").slice(-15).join("\n");
      throw new Error(`${what} failed (exit ${r.status ?? r.signal}); see ${opts.log}:\n${tail}`);
    }
  } finally {
    closeSync(fd);
  }
}

// Unpacks an upstream tarball into a fresh build tree (its single top directory stripped).
function unpack(tarball: string, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync("tar", ["-xf", tarball, "-C", dir, "--strip-components=1"]);
}

function buildOtp(root: string, tarball: string, version: string): string {
  const prefix = join(root, `otp-${version}`);
  if (existsSync(join(prefix, BUILT))) return prefix;
  const tree = join(root, "build", "otp");
  unpack(tarball, tree);
  const logFile = join(root, "build", `otp-${version}.log`);
  log(`building Erlang/OTP ${version} (log: ${logFile})`);
  rmSync(prefix, { recursive: true, force: true });
  const without = readdirSync(join(tree, "lib"), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !OTP_APPLICATIONS.includes(e.name))
    .map((e) => `--without-${e.name}`);
  // No Java, wx or ODBC; no profile-guided build of the emulator (it compiles it twice).
  const configure = [`--prefix=${prefix}`, "--without-javac", "--without-wx", "--without-odbc", "--disable-dynamic-trace", "--disable-pgo", ...without];
  step("OTP configure", "./configure", configure, { cwd: tree, log: logFile });
  step("OTP make", "make", [`-j${JOBS}`], { cwd: tree, log: logFile });
  step("OTP make install", "make", ["install"], { cwd: tree, log: logFile });
  writeFileSync(join(prefix, BUILT), `${configure.join(" ")}\n`);
  rmSync(tree, { recursive: true, force: true });
  return prefix;
}

// The version a tarball's top-level FILE (OTP_VERSION, VERSION) names, read without unpacking it.
function versionInTarball(tarball: string, file: string): string {
  const name = execFileSync("tar", ["-tf", tarball], { encoding: "utf8", maxBuffer: 1 << 28 }).split("\n").find((p) => p.split("/").length === 2 && p.endsWith(`/${file}`));
  if (!name) throw new Error(`${tarball}: no ${file} at its top`);
  return execFileSync("tar", ["-xOf", tarball, name], { encoding: "utf8" }).trim();
}

function buildElixir(root: string, tarball: string, otp: string, otpVersion: string): { prefix: string; version: string } {
  const version = versionInTarball(tarball, "VERSION");
  const prefix = join(root, `elixir-${version}-otp-${otpVersion}`);
  if (existsSync(join(prefix, BUILT))) return { prefix, version };
  const tree = join(root, "build", "elixir");
  unpack(tarball, tree);
  const logFile = join(root, "build", `elixir-${version}-otp-${otpVersion}.log`);
  log(`building Elixir ${version} on OTP ${otpVersion} (log: ${logFile})`);
  rmSync(prefix, { recursive: true, force: true });
  const env = { ...process.env, PATH: `${join(otp, "bin")}${delimiter}${process.env.PATH ?? ""}` };
  step("Elixir make", "make", [`-j${JOBS}`, "compile"], { cwd: tree, log: logFile, env });
  step("Elixir make install", "make", ["install", `PREFIX=${prefix}`], { cwd: tree, log: logFile, env });
  writeFileSync(join(prefix, BUILT), `${version}\n`);
  rmSync(tree, { recursive: true, force: true });
  return { prefix, version };
}

// rebar3 is not built here (Debian's source of it needs its vendored dependencies fetched):
// the one on PATH is linked into the toolchain, an escript the toolchain's escript runs.
function rebar3OnPath(): string {
  const found = spawnSync("sh", ["-c", "command -v rebar3"], { encoding: "utf8" }).stdout.trim();
  if (!found) throw new Error("no rebar3 on PATH to put into the toolchain");
  return found;
}

// Builds what is missing and returns the toolchain directory (an install prefix with bin/).
export function ensureToolchain(spec: ToolchainSpec = TRIXIE, root: string = cacheRoot()): string {
  mkdirSync(join(root, "build"), { recursive: true });
  const sources = new DebianSources(join(root, "apt"), [spec.suite]);
  const otpTar = sources.fetchOrig(spec.erlang, spec.suite, join(root, "src")).file;
  const otpVersion = versionInTarball(otpTar, "OTP_VERSION");
  const otp = buildOtp(root, otpTar, otpVersion);
  const elixirTar = sources.fetchOrig(spec.elixir, spec.suite, join(root, "src")).file;
  const elixir = buildElixir(root, elixirTar, otp, otpVersion);

  const dir = join(root, `otp${otpVersion}-elixir${elixir.version}`);
  if (!existsSync(join(dir, BUILT))) {
    const fresh = `${dir}.new`;
    rmSync(fresh, { recursive: true, force: true });
    mkdirSync(join(fresh, "bin"), { recursive: true });
    for (const [from, names] of [
      [join(otp, "bin"), readdirSync(join(otp, "bin"))],
      [join(elixir.prefix, "bin"), readdirSync(join(elixir.prefix, "bin"))],
    ] as const) {
      for (const name of names) symlinkSync(join(from, name), join(fresh, "bin", name));
    }
    symlinkSync(rebar3OnPath(), join(fresh, "bin", "rebar3"));
    writeFileSync(join(fresh, BUILT), `otp ${otpVersion}\nelixir ${elixir.version}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(fresh, dir);
  }
  return dir;
}
