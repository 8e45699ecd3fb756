// -L/--load-path, the same for every command that plans packages (build, install, shell, deps,
// publish, challenge): definition files that override the automatic ones.
import type { Command } from "commander";

export function addLoadPathOption(cmd: Command): Command {
  return cmd.option("-L, --load-path <dir>", "a directory of definition modules overriding automatic definitions (repeatable)", (d: string, acc: string[]) => [...acc, d], [] as string[]);
}
