// `beamix import hex NAME[@REQ]`: write editable definition modules (DIR/<package>.ts) that
// `-L DIR` loads in place of the automatic definitions.
import { addToolchainOptions } from "../toolchain-options.ts";
import type { Command } from "commander";
import { importHex } from "../../import/hex.ts";
import { writeDefinitionModules } from "../../import/write-modules.ts";
import type { RepoOptions } from "../repo-options.ts";
import { addRepoOptions, reposFromOptions } from "../context.ts";
import { printJson, printLines } from "../output.ts";

type ImportHexCliOptions = RepoOptions & { recursive?: boolean; output?: string; force?: boolean; json?: boolean };

export function registerImportCommands(program: Command): void {
  const imp = program.command("import").description("write definition modules for packages, to edit and load with -L DIR");

  const hex = imp
    .command("hex")
    .description("write DIR/<package>.ts for a Hex release (with --recursive, for its whole closure): unedited, it builds exactly what the automatic definition builds")
    .argument("<spec>", "a Hex name with an optional requirement: beacon, beacon@~> 1.1, beacon@1.2.0, erlang-beacon")
    .option("-r, --recursive", "also import every package of its dependency closure")
    .option("-o, --output <dir>", "the definition directory to write into (default: the current directory)")
    .option("-f, --force", "overwrite existing modules")
    .option("--json", "list the files written as JSON");
  addRepoOptions(hex);
  addToolchainOptions(hex);
  hex.action(async (spec: string, opts: ImportHexCliOptions) => {
    const imported = await importHex(spec, { repos: await reposFromOptions(opts), recursive: opts.recursive });
    const written = await writeDefinitionModules(opts.output ?? process.cwd(), imported, { force: opts.force });
    if (opts.json) printJson(written);
    else printLines(written.map((w) => w.path));
  });
}
