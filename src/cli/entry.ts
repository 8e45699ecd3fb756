// What the beamix command does first, the same from the sources (src/cli/main.js) and from the
// npm package's bundle (bin/beamix.js): an unchanged `beamix deps` is answered from its record
// (src/deps/unchanged-replay.ts) before the CLI is loaded; anything else runs the CLI. Both are
// loaded only when wanted, so that neither pays for the other.
export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "deps") {
    const { currentCall, replayUnchangedRun } = await import("../deps/unchanged-replay.ts");
    const replayed = await replayUnchangedRun(currentCall(argv.slice(1)));
    if (replayed) {
      process.stdout.write(replayed.stdout);
      process.stderr.write(replayed.stderr);
      return replayed.exitCode;
    }
  }
  const { main } = await import("./program.ts");
  return main(argv);
}
