// The beamix command line: a thin shell over the library. Exit codes: 0 ok, 1 a user error
// (one line on stderr naming what failed), 2 wrong usage.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { BeamixError, UsageError, errorMessage } from "../errors.ts";
import { registerHexCommands } from "./commands/hex.ts";
import { registerBuildCommands } from "./commands/build.ts";
import { registerStoreCommands } from "./commands/store.ts";
import { registerProfileCommands } from "./commands/profile.ts";
import { registerImportCommands } from "./commands/import.ts";
import { registerDepsCommands } from "./commands/deps.ts";
import { registerSubstituteCommands } from "./commands/substitute.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

export function buildProgram(): Command {
  const program = new Command("beamix")
    .description("A functional package manager and binary cache for Hex packages")
    .version(pkg.version, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (str, write) => write(`beamix: ${str.replace(/^error: /, "")}`) })
    .exitOverride();
  registerBuildCommands(program);
  registerProfileCommands(program);
  registerDepsCommands(program);
  registerSubstituteCommands(program);
  registerStoreCommands(program);
  registerImportCommands(program);
  registerHexCommands(program);
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
