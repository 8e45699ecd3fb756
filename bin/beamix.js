#!/usr/bin/env node
// The command of the installed package (package.json's bin): runs the bundle that
// scripts/build.ts writes into dist/ with the user's own Node. From a clone, bin/beamix runs the
// TypeScript sources instead. Plain JavaScript that any Node parses, so that an old one gets a
// sentence rather than a syntax or link error.
import module from "node:module";

// As package.json's engines: node:sqlite without a flag, zstd in node:zlib, the compile cache.
const MIN_MAJOR = 24;
if (Number(process.versions.node.split(".")[0]) < MIN_MAJOR) {
  process.stderr.write(`beamix: needs Node ${MIN_MAJOR} or later; this is Node ${process.version} (${process.execPath})\n`);
  process.exit(1);
}

// The bundle's compiled code is kept in Node's compile cache (in the temp dir): later runs skip
// parsing and compiling it.
module.enableCompileCache?.();

// node:sqlite (the store's database) warns that it is experimental on Node before 26: a warning
// on every run tells the user nothing they can act on. Other warnings still print.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === "string" ? rest[0] : rest[0]?.type;
  if (type === "ExperimentalWarning" && /SQLite/.test(String(warning))) return;
  return emitWarning.call(process, warning, ...rest);
};

const { run } = await import("../dist/cli/main.js");
process.exitCode = await run(process.argv.slice(2));
