// What the beamix command does first, the same from the sources (src/cli/main.js) and from the
// npm package's bundle (bin/beamix.js): `beamix deps` is answered without loading the CLI when
// nothing changed (src/deps/unchanged-replay.ts) or when it fills a fresh checkout of a project
// whose dependencies were put in place before (src/deps/checkout-restore.ts); anything else runs
// the CLI. Each is loaded only when wanted, so that none pays for the others. Before any of them,
// on a machine whose toolchain cache has no answer, `beamix deps` starts erl (./early-toolchain.ts).
// BEAMIX_REPLAY=off always runs the CLI; BEAMIX_REPLAY=trace says on stderr when it did not.
import { writeSync } from "node:fs";
import { startDepsToolchainProbe } from "./early-toolchain.ts";

export async function run(argv: string[]): Promise<number> {
  const replay = process.env.BEAMIX_REPLAY;
  if (argv[0] === "deps") startDepsToolchainProbe(argv.slice(1));
  if (argv[0] === "deps" && replay !== "off") {
    const { currentCall, replayUnchangedRun } = await import("../deps/unchanged-replay.ts");
    const call = currentCall(argv.slice(1));
    let answered = await replayUnchangedRun(call);
    let how = "replayed: nothing changed";
    if (!answered) {
      const { restoreFreshCheckout } = await import("../deps/checkout-restore.ts");
      answered = await restoreFreshCheckout(call);
      how = "restored a fresh checkout from its record";
    }
    if (answered) {
      if (replay === "trace") printTo(2, `beamix: ${how}\n`);
      printTo(1, answered.stdout);
      printTo(2, answered.stderr);
      return answered.exitCode;
    }
  }
  const { main } = await import("./program.ts");
  return main(argv);
}

// Written straight to the descriptor: making Node's process.stdout stream for a pipe loads its
// net and stream modules, a good part of the cost of an unchanged run. A descriptor that would
// block (one left non-blocking) gets the rest through the stream; a reader that went away (EPIPE)
// gets nothing more, as from the stream.
function printTo(fd: 1 | 2, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  for (let done = 0; done < bytes.length; ) {
    try {
      done += writeSync(fd, bytes, done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      if (code !== "EAGAIN") throw err;
      (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(done));
      return;
    }
  }
}
