// `beamix serve …` as a user starts it: a child process whose first stdout line is its URL;
// stopped with SIGTERM, as a service manager stops it.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const mainJs = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface ServeChild {
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

export async function startServe(args: string[], env: NodeJS.ProcessEnv): Promise<ServeChild> {
  const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", mainJs, "serve", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]);
    });
    child.on("close", (code) => reject(new Error(`beamix serve exited ${code}: ${stderr}`)));
  });
  return { url, child, stderr: () => stderr };
}

// The exit code once it has stopped.
export async function stopServe(child: ChildProcess): Promise<number | null> {
  const closed = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  child.kill("SIGTERM");
  return closed;
}
