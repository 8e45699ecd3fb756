// The beamix command line (src/cli/main.js starts it): a thin shell over the library. Exit codes:
// 0 ok, 1 a user error (one line on stderr naming what failed), 2 wrong usage.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { BeamixError, UsageError, errorMessage } from "../errors.ts";
type Registrar = (program: Command) => void;

// Command groups, loaded only when their command is run: a no-op `beamix build` must not pay
// for loading the code of every other command. Help and unknown commands load them all.
const GROUPS: { commands: string[]; load: () => Promise<Registrar> }[] = [
  { commands: ["build", "path", "log"], load: async () => (await import("./commands/build.ts")).registerBuildCommands },
  { commands: ["install", "remove", "upgrade", "profile", "shell"], load: async () => (await import("./commands/profile.ts")).registerProfileCommands },
  {
    commands: ["deps"],
    load: async () => {
      const [{ registerDepsCommands }, { registerDepsTree }] = await Promise.all([import("./commands/deps.ts"), import("./commands/lock.ts")]);
      return (program) => (registerDepsCommands(program), registerDepsTree(program));
    },
  },
  { commands: ["key", "publish", "serve"], load: async () => (await import("./commands/substitute.ts")).registerSubstituteCommands },
  { commands: ["challenge"], load: async () => (await import("./commands/challenge.ts")).registerChallengeCommands },
  { commands: ["size", "graph", "why-depends", "weather", "roots"], load: async () => (await import("./commands/inspect.ts")).registerInspectCommands },
  { commands: ["gc", "verify"], load: async () => (await import("./commands/store.ts")).registerStoreCommands },
  { commands: ["import"], load: async () => (await import("./commands/import.ts")).registerImportCommands },
  { commands: ["hex"], load: async () => (await import("./commands/hex.ts")).registerHexCommands },
  {
    commands: ["lock", "outdated", "audit"],
    load: async () => {
      const { registerLockCommands, registerLockReports } = await import("./commands/lock.ts");
      return (program) => (registerLockCommands(program), registerLockReports(program));
    },
  },
  { commands: ["repo"], load: async () => (await import("./commands/repo.ts")).registerRepoCommands },
  { commands: ["toolchain"], load: async () => (await import("./commands/toolchain.ts")).registerToolchainCommands },
];

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("beamix")
    .description("A functional package manager and binary cache for Hex packages")
    .version(pkg.version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(`beamix: ${str.replace(/^error: /, "")}`) })
    .exitOverride();
  const first = argv.find((a) => !a.startsWith("-"));
  const wanted = GROUPS.filter((g) => first !== undefined && g.commands.includes(first));
  for (const group of wanted.length ? wanted : GROUPS) (await group.load())(program);
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: "user" });
    // A command that reports its own partial failure (a failed build) sets process.exitCode.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version are not errors; everything else commander reports is usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`beamix: ${err.message}\n`);
      return 2;
    }
    if (err instanceof BeamixError) {
      process.stderr.write(`beamix: ${errorMessage(err)}\n`);
      return 1;
    }
    throw err;
  }
}

