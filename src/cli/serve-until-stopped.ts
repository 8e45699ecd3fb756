// What both serving commands (beamix serve, beamix hex serve) share: where they listen, and once
// their server listens, logging requests (only server errors unless --verbose), printing the URL
// and running until SIGINT or SIGTERM, then closing the server.
import type { Command } from "commander";
import { portOption } from "./options.ts";

export interface ListenOptions {
  port: number;
  host: string;
  verbose?: boolean;
}

export function addListenOptions(cmd: Command): Command {
  return cmd
    .option("--port <n>", "TCP port (0: any free port)", portOption, 0)
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("-v, --verbose", "log every request on stderr");
}
export function requestLog(verbose: boolean | undefined): (line: string) => void {
  return (line) => {
    if (verbose || / 5\d\d/.test(line)) process.stderr.write(line + "\n");
  };
}

export async function serveUntilStopped(server: { url: string; close(): Promise<void> }): Promise<void> {
  process.stdout.write(`${server.url}\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.close().then(done, done);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
