// `beamix install | remove | upgrade`, `beamix profile …` (generations) and `beamix shell`: thin
// shells over src/profile.
import { realpath } from "node:fs/promises";
import type { Command } from "commander";
import { BeamixError, UsageError } from "../../errors.ts";
import { defaultProgress } from "../progress-display.ts";
import { openStore, defaultStoreDir, type Store } from "../../store/store.ts";
import { changeProfile, type ChangeResult, type ProfileChange } from "../../profile/change.ts";
import type { ClosureOptions } from "../../profile/closure.ts";
import { deleteGenerations, listGenerations, parseDuration, profileStoreDir, rollBack, switchGeneration, type GenerationInfo } from "../../profile/generations.ts";
import { locateProfile, type Profile } from "../../profile/location.ts";
import { runShell } from "../../profile/shell.ts";
import { reuseProfileToolchain } from "../../profile/recorded-toolchain.ts";
import type { RepoOptions } from "../repo-options.ts";
import {
  addBuildOptions,
  addRepoOptions,
  addStoreOption,
  addSubstituterOptions,
  jobsFromOptions,
  reposFromOptions,
  substitutersFromOptions,
  timeoutFromOptions,
  toolchain,
  type BuildOptions,
  type StoreOptions,
  type SubstituterOptions,
} from "../context.ts";
import { printJson, printLines } from "../output.ts";
import { limitsFromOptions } from "../limit-options.ts";
import { addLoadPathOption } from "../definition-options.ts";

type ProfileOptions = StoreOptions & { profile?: string; json?: boolean };
type ChangeCliOptions = ProfileOptions & RepoOptions & BuildOptions & SubstituterOptions & { loadPath: string[] };

function addProfileOption(cmd: Command): Command {
  return cmd.option("-p, --profile <dir>", "the profile (default: <data dir>/profiles/default)");
}


// The store a profile links to: the one its generations record, unless --store names another
// (refused: the generations could not find their items there).
async function profileStore(p: Profile, opts: StoreOptions): Promise<Store> {
  const recorded = await profileStoreDir(p);
  if (opts.store === undefined) return openStore(recorded ?? defaultStoreDir());
  const store = await openStore(opts.store);
  if (recorded !== undefined && store.dir !== (await realpath(recorded).catch(() => recorded))) {
    await store.close();
    throw new BeamixError(`profile ${p.path} links to the store ${recorded}, not ${opts.store}`);
  }
  return store;
}

// Missing items are substituted from binary caches when there are any (options, config file),
// as with `beamix build`; the realize result counts them.
async function closureOptions(store: Store, opts: RepoOptions & BuildOptions & SubstituterOptions & { loadPath: string[] }): Promise<ClosureOptions> {
  const progress = await defaultProgress();
  const substituters = await substitutersFromOptions(opts, (message) => progress.event({ type: "warning", message }));
  return {
    store,
    toolchain: await toolchain(),
    repos: await reposFromOptions(opts),
    definitionDirs: opts.loadPath,
    realize: {
      jobs: jobsFromOptions(opts),
      keepGoing: opts.keepGoing,
      keepFailed: opts.keepFailed,
      sandbox: opts.sandbox,
      timeoutMs: timeoutFromOptions(opts),
      limits: limitsFromOptions(opts),
      progress,
      substituters,
      fallback: opts.fallback,
    },
  };
}

function changeCommand(program: Command, name: string, description: string, argument: [string, string], change: (args: string[]) => ProfileChange): void {
  const cmd = program.command(name).description(description).argument(argument[0], argument[1]).option("--json", "print the result as JSON");
  addProfileOption(cmd);
  addStoreOption(cmd);
  addRepoOptions(cmd);
  addLoadPathOption(cmd);
  addBuildOptions(cmd);
  addSubstituterOptions(cmd);
  cmd.action(async (args: string[], opts: ChangeCliOptions) => {
    const p = await locateProfile(opts.profile);
    const reuse = await reuseProfileToolchain(p);
    if (reuse.kind === "gone") process.stderr.write(`beamix: the toolchain ${p.path} was made with (${reuse.erlRoot}) is gone; using the one on PATH\n`);
    const store = await profileStore(p, opts);
    try {
      const result = await changeProfile(p, change(args), {
        ...(await closureOptions(store, opts)),
        onWait: (pid) => process.stderr.write(`waiting for process ${pid}, which is changing ${p.path}\n`),
      });
      reportChange(result, opts.json);
    } finally {
      await store.close();
    }
  });
}

function reportChange(r: ChangeResult, json?: boolean): void {
  if (json) printJson(r);
  else if (!r.created) printLines([`${r.profile}: nothing changed (generation ${r.generation})`]);
  else {
    printLines([
      `${r.profile}: generation ${r.generation}${r.previous !== undefined ? ` (was ${r.previous})` : ""}`,
      ...r.changes.map((c) => (c.from === undefined ? `  + ${c.name} ${c.to}` : c.to === undefined ? `  - ${c.name} ${c.from}` : `  ${c.name} ${c.from} → ${c.to}`)),
      ...r.rebuilt.map((n) => `  ${n} rebuilt (an input changed)`),
      // Requests whose package came or went are already said above.
      ...r.requestChanges
        .filter((c) => !r.changes.some((v) => v.name === c.name && (c.from === undefined ? v.from === undefined : c.to === undefined && v.to === undefined)))
        .map((c) => (c.to === undefined ? `  ${c.name}: no longer asked for, still a dependency` : `  ${c.name}: asked for as ${c.to}${c.from !== undefined ? ` (was ${c.from})` : ""}`)),
    ]);
  }
  const notes = [`${r.built} built, ${r.substituted ? `${r.substituted} substituted, ` : ""}${r.present} already present`];
  if (r.unpinned) notes.push("some dependencies could not keep their installed versions: they were resolved again");
  if (r.created && r.previous === undefined) notes.push(`to use it in a shell: . ${r.profile}/etc/profile`);
  process.stderr.write(notes.join("\n") + "\n");
}

function generationNumber(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new UsageError(`${JSON.stringify(text)} is not a generation number`);
  return Number(text);
}

function generationLine(g: GenerationInfo): string {
  const when = g.created.replace("T", " ").replace(/\.\d+Z$/, "Z");
  const version = new Map(g.manifest.packages.map((x) => [x.name, x.version]));
  const what = g.manifest.requested.map((r) => `${r.name} ${version.get(r.name) ?? "?"}`).join(", ") || "(empty)";
  return `${String(g.number).padStart(4)}  ${when}  ${what}${g.current ? "  (current)" : ""}`;
}

export function registerProfileCommands(program: Command): void {
  const SPEC = "a Hex name (trellis, trellis@~> 0.9, elixir-trellis), a package directory, a .tar or a definition file";
  changeCommand(program, "install", "add packages to a profile (a new generation with the whole closure, built as needed)", ["<spec...>", SPEC], (specs) => ({ kind: "install", specs }));
  changeCommand(program, "remove", "remove packages from a profile (a new generation)", ["<package...>", "an installed package (name, alias, or the path it was installed from)"], (packages) => ({ kind: "remove", packages }));
  changeCommand(program, "upgrade", "resolve a profile's packages again to the newest versions allowed (a new generation)", ["[package...]", "packages to upgrade, with their dependencies (default: all)"], (packages) => ({ kind: "upgrade", packages }));

  const profile = program.command("profile").description("a profile's generations");

  const list = profile.command("list-generations").description("list the generations of a profile").option("--json", "print JSON");
  addProfileOption(list);
  list.action(async (opts: ProfileOptions) => {
    const gens = await listGenerations(await locateProfile(opts.profile));
    if (opts.json) {
      printJson(gens.map((g) => ({ number: g.number, path: g.path, current: g.current, created: g.created, requested: g.manifest.requested, packages: g.manifest.packages })));
    } else printLines(gens.map(generationLine));
  });

  const switchCmd = profile.command("switch-generation").description("make generation N the current one").argument("<n>", "a generation number");
  addProfileOption(switchCmd);
  addStoreOption(switchCmd);
  switchCmd.action(async (n: string, opts: ProfileOptions) => {
    const number = generationNumber(n);
    await withProfileStore(opts, async (p, store) => reportSwitch(p, await switchGeneration(store, p, number)));
  });

  const back = profile.command("roll-back").description("switch to the generation before the current one");
  addProfileOption(back);
  addStoreOption(back);
  back.action(async (opts: ProfileOptions) => {
    await withProfileStore(opts, async (p, store) => reportSwitch(p, await rollBack(store, p)));
  });

  const del = profile
    .command("delete-generations")
    .description("delete generations (default: all but the current one); beamix gc then frees what only they used")
    .argument("[n...]", "generation numbers")
    .option("--older-than <duration>", "only generations older than this (30d, 12h, 2w)")
    .option("--json", "print JSON");
  addProfileOption(del);
  addStoreOption(del);
  del.action(async (ns: string[], opts: ProfileOptions & { olderThan?: string }) => {
    if (ns.length && opts.olderThan) throw new UsageError("give generation numbers or --older-than, not both");
    const numbers = ns.map(generationNumber);
    const olderThanMs = opts.olderThan === undefined ? undefined : parseDuration(opts.olderThan);
    await withProfileStore(opts, async (p, store) => {
      const deleted = await deleteGenerations(store, p, { numbers, ...(olderThanMs !== undefined ? { olderThanMs } : {}) });
      if (opts.json) printJson({ profile: p.path, deleted });
      else printLines([deleted.length ? `${p.path}: deleted generations ${deleted.join(", ")} (beamix gc frees what they alone used)` : `${p.path}: no generation to delete`]);
    });
  });

  const shell = program
    .command("shell")
    .description("run a command (default: your shell) in a temporary environment with the packages on PATH and ERL_LIBS; its exit status is beamix's")
    .argument("<spec...>", `${SPEC}; then -- CMD ARGS`)
    .usage("[options] <spec...> [-- CMD ARGS...]");
  addStoreOption(shell);
  addRepoOptions(shell);
  addLoadPathOption(shell);
  addBuildOptions(shell);
  addSubstituterOptions(shell);
  shell.action(async function (this: Command, operands: string[], opts: StoreOptions & RepoOptions & BuildOptions & SubstituterOptions & { loadPath: string[] }) {
    // Commander drops "--" and appends what follows it to the operands: split them again.
    const raw = rawArgs(this);
    const dash = raw.indexOf("--");
    const commandLength = dash < 0 ? 0 : raw.length - dash - 1;
    const specs = operands.slice(0, operands.length - commandLength);
    const command = operands.slice(operands.length - commandLength);
    if (specs.length === 0) throw new UsageError("shell: give at least one package before --");
    const store = await openStore(opts.store ?? defaultStoreDir());
    try {
      process.exitCode = await runShell(specs, { ...(await closureOptions(store, opts)), command });
    } finally {
      await store.close(); // releases the temporary roots that held the environment's items
    }
  });
}

// The arguments the program was parsed from (commander keeps them, untyped, on the root command).
function rawArgs(cmd: Command): string[] {
  let c = cmd;
  while (c.parent) c = c.parent;
  const raw = (c as unknown as { rawArgs?: unknown }).rawArgs;
  if (!Array.isArray(raw)) throw new Error("internal: commander no longer keeps rawArgs");
  return raw as string[];
}

async function withProfileStore(opts: ProfileOptions, fn: (p: Profile, store: Store) => Promise<void>): Promise<void> {
  const p = await locateProfile(opts.profile);
  const store = await profileStore(p, opts);
  try {
    await fn(p, store);
  } finally {
    await store.close();
  }
}

function reportSwitch(p: Profile, s: { from: number | undefined; to: number }): void {
  printLines([`${p.path}: switched from generation ${s.from ?? "none"} to ${s.to}`]);
}
