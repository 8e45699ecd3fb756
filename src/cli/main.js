// Entry point of the beamix command. Plain JavaScript on purpose: Node loads its TypeScript
// stripper (~45 ms) only to compile an entry file written in TypeScript, before anything could
// turn the compile cache on. This file turns it on first; every TypeScript module loaded after it
// (./program.ts and what it imports) comes from the cache, stripped and compiled, after the first
// run. The cache lives in the system's temp dir.
import { enableCompileCache } from "node:module";

enableCompileCache();
const argv = process.argv.slice(2);
// `beamix deps` when nothing changed since the same command last ran: its recorded output, if
// every fact it rests on still holds (src/deps/unchanged-replay.ts), before the CLI is loaded.
const replayed =
  argv[0] === "deps" ? await import("../deps/unchanged-replay.ts").then((m) => m.replayUnchangedRun(m.currentCall(argv.slice(1)))) : undefined;
if (replayed) {
  process.stdout.write(replayed.stdout);
  process.stderr.write(replayed.stderr);
  process.exitCode = replayed.exitCode;
} else {
  const { main } = await import("./program.ts");
  process.exitCode = await main(argv);
}
