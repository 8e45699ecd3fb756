// What both serving commands (beamix serve, beamix hex serve) do once their server listens: log
// requests (only server errors unless --verbose), print the URL, and run until SIGINT or
// SIGTERM, then close the server.
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
