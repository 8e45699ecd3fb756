// Which argument of `beamix deps` names the project directory, read with the command's own options
// (src/cli/operand-index.ts): a fresh checkout's record must mark that argument and no other.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { registerDepsCommands } from "../src/cli/commands/deps.ts";
import { operandIndex } from "../src/cli/operand-index.ts";

function depsCommand(): Command {
  const program = new Command();
  registerDepsCommands(program);
  const deps = program.commands.find((c) => c.name() === "deps");
  assert.ok(deps);
  return deps;
}

test("the project directory is found wherever it stands among options and their values", () => {
  const deps = depsCommand();
  assert.equal(operandIndex(["proj"], deps), 0);
  assert.equal(operandIndex([], deps), null);
  assert.equal(operandIndex(["--json", "proj"], deps), 1, "after a flag");
  assert.equal(operandIndex(["--env", "prod", "proj", "--json"], deps), 2, "after an option's value");
  assert.equal(operandIndex(["--env", "prod", "--store", "/s"], deps), null, "values are not the directory");
  assert.equal(operandIndex(["--store=/s", "-j", "2", "proj"], deps), 3, "--opt=value and short options with values");
  assert.equal(operandIndex(["-j2", "proj"], deps), 1, "a short option's value attached");
  assert.equal(operandIndex(["--no-sandbox", "--hard-links", "proj"], deps), 2);
  assert.equal(operandIndex(["--", "-odd-dir"], deps), 1);
  assert.equal(operandIndex(["--bogus", "proj"], deps), undefined, "an option the command does not know");
});
