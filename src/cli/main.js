// Entry point of the beamix command. Plain JavaScript on purpose: Node loads its TypeScript
// stripper (~45 ms) only to compile an entry file written in TypeScript, before anything could
// turn the compile cache on. This file turns it on first; every TypeScript module loaded after it
// (./entry.ts and what it imports) comes from the cache, stripped and compiled, after the first
// run. The cache lives in the system's temp dir.
import { enableCompileCache } from "node:module";

enableCompileCache();
const { run } = await import("./entry.ts");
process.exitCode = await run(process.argv.slice(2));
