// Entry point of the beamix command. It turns on Node's compile cache before loading anything
// else: compiling (and stripping the types of) the CLI's modules costs ~0.3 s per start
// otherwise, more than a no-op build should take. The cache lives in the system's temp dir.
import { enableCompileCache } from "node:module";

enableCompileCache();
const { main } = await import("./program.ts");
process.exitCode = await main(process.argv.slice(2));
