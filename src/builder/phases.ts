// A build is an ordered list of named phases (phases are data): unpack, patch, configure,
// build, check, install, validate. Each build system fills in configure, build, check and where
// install copies from; a definition then adds, replaces or removes phases by name.
//
// Two phases run on the host, by beamix itself, and stay where they are: `unpack` (copies the
// source into the build directory and writes beamix's helper files there; always first) and
// `validate` (checks the installed output; always last, may be removed). Every other phase is a
// list of commands run inside the sandbox, in the package's source copy unless said otherwise.
// A definition's step runs there too: `run` as an argv, `shell` with `/bin/sh -e -c`. A step
// that replaces install must leave the output in /build/out/lib/erlang/lib/<app>-<version>.
import { BeamixError } from "../errors.ts";
import type { Patch, PhaseOverride, PhaseStep } from "../derivation/definition.ts";
import { shellQuote } from "./environment.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import type { BuildLayout } from "./layout.ts";
import { SOURCE_DIR } from "./layout.ts";

export interface Command {
  argv: string[]; // argv[0] is looked up in the build's PATH unless absolute
  cwd: string; // relative to the build directory
  env?: Record<string, string>; // on top of the build's environment
}

export const HOST_PHASES = ["unpack", "validate"] as const;
export type HostPhaseName = (typeof HOST_PHASES)[number];

export type Phase =
  | { kind: "host"; name: HostPhaseName }
  // `skipped` says why the phase does not run (check without arguments.check).
  | { kind: "sandbox"; name: string; commands: Command[]; skipped?: string };

// An input as the build sees it.
export interface RecipeInput {
  app: string;
  version: string;
  libDir: string; // its <app>-<version> directory (ebin, priv, include), as the build sees it
  direct: boolean;
}

// A build-only input (a rebar3 plugin or one of its inputs) as the build sees it.
export interface RecipeBuildInput extends RecipeInput {
  requires: string[]; // the applications of its own inputs
}

// What a build system's recipe is made from.
export interface RecipeContext {
  app: string;
  version: string;
  mixEnv: string;
  check: boolean;
  layout: BuildLayout; // as the build sees it
  inputs: RecipeInput[];
  buildInputs?: RecipeBuildInput[]; // none when absent
  toolchain: Toolchain;
}

// What a build system contributes.
export interface SystemRecipe {
  configure: Command[];
  build: Command[];
  check: Command[];
  // Directories (relative to the source copy) holding the built ebin/, priv/ and include/; the
  // first that has an ebin/ is installed.
  installFrom: string[];
}

export const PATCH_FILE = (index: number): string => `patches/${String(index + 1).padStart(3, "0")}.patch`;

export const sh = (script: string, cwd = SOURCE_DIR): Command => ({ argv: ["/bin/sh", "-e", "-c", script], cwd });

// `cp -RL` runs inside the sandbox, so symlinks resolve to what the build could see, never to
// host files; the host then copies the result without following anything.
function installCommand(from: string[], layout: BuildLayout): Command {
  const candidates = from.map(shellQuote).join(" ");
  const dest = shellQuote(layout.appOut);
  return sh(
    [
      "from=",
      `for d in ${candidates}; do if [ -d "$d/ebin" ]; then from=$d; break; fi; done`,
      `if [ -z "$from" ]; then printf 'beamix: nothing to install: no ebin directory in' >&2; printf ' %s' ${candidates} >&2; echo >&2; exit 1; fi`,
      `mkdir -p ${dest}`,
      `for sub in ebin priv include; do if [ -e "$from/$sub" ]; then cp -RL "$from/$sub" ${dest}/$sub; fi; done`,
    ].join("\n"),
  );
}

export function standardPhases(recipe: SystemRecipe, patches: readonly Patch[], check: boolean, layout: BuildLayout): Phase[] {
  const patchCommands = patches.map((p, i): Command => ({
    argv: ["patch", `-p${p.strip}`, "--batch", "--no-backup-if-mismatch", "-i", `${layout.helpers}/${PATCH_FILE(i)}`],
    cwd: SOURCE_DIR,
  }));
  return [
    { kind: "host", name: "unpack" },
    { kind: "sandbox", name: "patch", commands: patchCommands },
    { kind: "sandbox", name: "configure", commands: recipe.configure },
    { kind: "sandbox", name: "build", commands: recipe.build },
    { kind: "sandbox", name: "check", commands: recipe.check, ...(check ? {} : { skipped: "arguments.check is false" }) },
    { kind: "sandbox", name: "install", commands: [installCommand(recipe.installFrom, layout)] },
    { kind: "host", name: "validate" },
  ];
}

export function stepCommand(step: PhaseStep): Command {
  if (step.run) return { argv: [...step.run], cwd: SOURCE_DIR };
  if (step.shell !== undefined) return sh(step.shell);
  throw new BeamixError("a phase step needs run or shell");
}

// Applies a definition's overrides in order. An added phase without before/after goes just
// before install. A skipped phase stays skipped when replaced (check without arguments.check).
export function applyOverrides(phases: readonly Phase[], overrides: readonly PhaseOverride[], where: string): Phase[] {
  const out = [...phases];
  const names = () => out.map((p) => p.name).join(", ");
  const indexOf = (name: string, op: string): number => {
    const i = out.findIndex((p) => p.name === name);
    if (i < 0) throw new BeamixError(`${where}: phase override ${op} ${name}: there is no phase ${name} (phases: ${names()})`);
    return i;
  };
  for (const o of overrides) {
    switch (o.op) {
      case "remove": {
        const i = indexOf(o.name, "remove");
        if (o.name === "unpack") throw new BeamixError(`${where}: phase override remove unpack: the unpack phase cannot be removed`);
        out.splice(i, 1);
        break;
      }
      case "replace": {
        const i = indexOf(o.name, "replace");
        const old = out[i];
        if (old.kind === "host") throw new BeamixError(`${where}: phase override replace ${o.name}: beamix runs that phase itself; it cannot be replaced`);
        out[i] = { kind: "sandbox", name: o.name, commands: [stepCommand(o)], ...(old.skipped ? { skipped: old.skipped } : {}) };
        break;
      }
      case "add": {
        if (out.some((p) => p.name === o.name)) throw new BeamixError(`${where}: phase override add ${o.name}: there already is a phase ${o.name}`);
        let at: number;
        if (o.before !== undefined) {
          at = indexOf(o.before, `add ${o.name} before`);
          if (o.before === "unpack") throw new BeamixError(`${where}: phase override add ${o.name}: nothing can run before unpack`);
        } else if (o.after !== undefined) {
          at = indexOf(o.after, `add ${o.name} after`) + 1;
          if (o.after === "validate") throw new BeamixError(`${where}: phase override add ${o.name}: nothing can run after validate`);
        } else {
          const install = out.findIndex((p) => p.name === "install");
          const validate = out.findIndex((p) => p.name === "validate");
          at = install >= 0 ? install : validate >= 0 ? validate : out.length;
        }
        out.splice(at, 0, { kind: "sandbox", name: o.name, commands: [stepCommand(o)] });
        break;
      }
    }
  }
  return out;
}
