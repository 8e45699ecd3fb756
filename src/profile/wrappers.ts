// The scripts of a profile generation (or a `beamix shell` environment): bin/erl, bin/elixir, … put
// the generation's lib/erlang/lib first on ERL_LIBS (after it, whatever ERL_LIBS the user already
// has), the toolchain's bin directories first on PATH (after them, the user's PATH), and exec the
// toolchain's real program by absolute path. The PATH matters: the toolchain's `elixir` script
// runs `erl` from PATH, so another Erlang first on the user's PATH would run instead (and fail).
// etc/profile, sourced by a shell, puts bin/ on PATH and the libraries on ERL_LIBS.
import { access, constants, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Toolchain } from "../toolchain/detect.ts";

export const WRAPPED_TOOLS = ["erl", "elixir", "elixirc", "iex", "mix"] as const;

// A word for sh: single-quoted, with each ' written as '\''.
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

// Puts DIR first on the variable, unless it is first already (a wrapper run from a profile's
// shell, or etc/profile sourced twice, would otherwise repeat it).
function prependLines(variable: string, dir: string): string[] {
  const q = shQuote(dir);
  return [`case "\${${variable}:-}" in`, `  ${q}|${q}:*) ;;`, `  *) ${variable}=${q}\${${variable}:+:\$${variable}} ;;`, "esac"];
}

export function wrapperScript(opts: { exec: readonly string[]; libDir: string; binDirs: readonly string[] }): string {
  return [
    "#!/bin/sh",
    "# Written by beamix: the packages of this profile generation on ERL_LIBS, then the toolchain.",
    ...prependLines("ERL_LIBS", opts.libDir),
    ...(opts.binDirs.length ? prependLines("PATH", opts.binDirs.join(":")) : []),
    "export ERL_LIBS PATH",
    `exec ${opts.exec.map(shQuote).join(" ")} "$@"`,
    "",
  ].join("\n");
}

// For `. PROFILE/etc/profile`. It names PROFILE (the symlink), not a generation, so a shell that
// sourced it follows switch-generation and roll-back.
export function environmentScript(opts: { binDir: string; libDir: string }): string {
  return [
    "# Written by beamix. Source this file (. PROFILE/etc/profile) to use the profile in a shell.",
    ...prependLines("PATH", opts.binDir),
    ...prependLines("ERL_LIBS", opts.libDir),
    "export PATH ERL_LIBS",
    "",
  ].join("\n");
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

// mix is an Elixir script (`#!/usr/bin/env elixir`): run it with the toolchain's elixir, not
// whichever elixir comes first on the user's PATH.
async function isElixirScript(path: string): Promise<boolean> {
  const f = await open(path, "r");
  try {
    const buf = Buffer.alloc(128);
    const { bytesRead } = await f.read(buf, 0, buf.length, 0);
    const first = buf.subarray(0, bytesRead).toString("latin1").split("\n")[0];
    return first.startsWith("#!") && /\belixir\b/.test(first);
  } finally {
    await f.close();
  }
}

// What each wrapper execs: the toolchain's programs, absolute. Tools the toolchain lacks (no
// Elixir) get no wrapper.
export async function toolCommands(tc: Toolchain): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>([["erl", [tc.paths.erl]]]);
  const elixir = tc.paths.elixir;
  if (elixir) {
    out.set("elixir", [elixir]);
    for (const tool of ["elixirc", "iex"]) {
      const p = join(dirname(elixir), tool);
      if (await executable(p)) out.set(tool, [p]);
    }
    const mix = tc.paths.mix;
    if (mix && (await executable(mix))) out.set("mix", (await isElixirScript(mix)) ? [elixir, mix] : [mix]);
  }
  return out;
}
