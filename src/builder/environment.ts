// The whole environment of a build: nothing is inherited from the caller. Tools keep their
// caches and homes inside the build directory, and compilers are told to be deterministic.
import type { Toolchain } from "../toolchain/detect.ts";
import type { BuildLayout } from "./layout.ts";

export interface EnvironmentOptions {
  layout: BuildLayout;
  toolchain: Toolchain;
  erlLibs: readonly string[]; // directories holding the inputs' <app>-<version> directories
  mixEnv: string;
  declared: Readonly<Record<string, string>>; // the derivation's env: wins over the defaults
}

export function buildEnvironment(o: EnvironmentOptions): Record<string, string> {
  const l = o.layout;
  const env: Record<string, string> = {
    PATH: [...o.toolchain.binDirs, "/usr/bin", "/bin"].filter((d, i, all) => all.indexOf(d) === i).join(":"),
    HOME: l.home,
    TMPDIR: l.tmp,
    LANG: "C.UTF-8",
    MIX_HOME: l.mixHome, // empty: no archive (a real Hex) is loaded next to the stand-in
    MIX_ENV: o.mixEnv,
    HEX_HOME: l.hexHome,
    HEX_OFFLINE: "1",
    REBAR_CACHE_DIR: l.rebarCache,
    // Strips absolute source paths from Erlang compiler output (?FILE, compile info, debug info).
    ERL_COMPILER_OPTIONS: "deterministic",
    // For C compilers and other tools that would otherwise stamp the current time.
    SOURCE_DATE_EPOCH: "1",
  };
  if (o.erlLibs.length > 0) env.ERL_LIBS = o.erlLibs.join(":");
  for (const [k, v] of Object.entries(o.declared)) if (k !== "MIX_ENV") env[k] = v;
  return env;
}

// POSIX shell quoting: safe for any byte string but NUL.
export function shellQuote(s: string): string {
  if (s !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// `NAME=value` lines, sorted, values shell-quoted: `set -a; . ./environment-variables`
// reproduces the build's environment for debugging a kept build directory.
export function environmentFileText(env: Readonly<Record<string, string>>): string {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${shellQuote(env[k])}\n`)
    .join("");
}
