// `beamix hex serve` and `beamix hex lock`, and the registry key `hex registry build
// --generate-key` makes: what it takes to run a Hex repository of one's own and to use it
// from a Mix project without the Hex client.
import { generateKeyPairSync } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BeamixError } from "../../errors.ts";
import { startHexServer } from "../../hex/registry/serve-static.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { repoFromOptions, type RepoOptions } from "../repo-options.ts";
import { addRepoOptions } from "../context.ts";
import { printJson, printLines } from "../output.ts";
import { addListenOptions, requestLog, serveUntilStopped, type ListenOptions } from "../serve-until-stopped.ts";

// The registry's signing key: RSA, as Hex requires (PKCS#1 v1.5 signatures over SHA-512).
// With `generate`, a missing file is created (mode 0600); an existing one is always used as it is.
export async function registryPrivateKey(path: string, generate: boolean): Promise<{ pem: string; generated: boolean }> {
  try {
    return { pem: await readFile(path, "utf8"), generated: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" || !generate) throw new BeamixError(`cannot read private key ${path}: ${code ?? (err as Error).message}${code === "ENOENT" ? " (--generate-key creates it)" : ""}`);
  }
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  // "wx": never overwrite a key another process wrote meanwhile.
  await writeFile(path, pem, { mode: 0o600, flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
    throw new BeamixError(`cannot write private key ${path}: ${err.code ?? err.message}`);
  });
  return { pem, generated: true };
}

export function registerHexServe(hex: Command): void {
  const serve = hex
    .command("serve")
    .description("serve a static Hex repository (beamix hex registry build) over HTTP, read-only; prints its URL")
    .argument("<dir>", "the repository directory (names, versions, public_key, packages/, tarballs/)");
  addListenOptions(serve);
  serve.action(async (dir: string, opts: ListenOptions) => {
    const server = await startHexServer({ dir, host: opts.host, port: opts.port, log: requestLog(opts.verbose) });
    await serveUntilStopped(server);
  });
}

export function registerHexLock(hex: Command): void {
  const cmd = hex
    .command("lock")
    .description("write a Mix project's mix.lock for its Hex dependencies, resolved against the repository as mix deps.get would (where the Hex client is not installed)")
    .argument("[dir]", "the Mix project", ".")
    .option("--json", "print the locked packages as JSON");
  addRepoOptions(cmd);
  cmd.action(async (dir: string, opts: RepoOptions & { json?: boolean }) => {
    // Loaded here: the other hex commands need neither Mix nor the resolver.
    const [{ readMixProject }, { formatMixLock }, { lockForRequirements }] = await Promise.all([
      import("../../deps/mix-query.ts"),
      import("../../mix/lock.ts"),
      import("../../mix/lock-from-resolution.ts"),
    ]);
    // Read in dev, the env mix deps.get runs in; it locks the dependencies of every env.
    const [project, repo] = await Promise.all([readMixProject(dir, "dev"), repoFromOptions(opts)]);
    const others = project.deps.filter((d) => d.scm !== "hex");
    if (others.length) throw new BeamixError(`${project.dir}: hex lock only locks Hex dependencies; ${others.map((d) => `${d.app} (${d.scm})`).join(", ")} need mix deps.get`);
    const roots = project.deps.map((d) => ({ name: d.hex?.package ?? d.app, requirement: d.requirement ?? ">= 0.0.0" }));
    const lock = await lockForRequirements(repo, roots);
    const path = join(resolve(dir), "mix.lock");
    await writeFileAtomic(path, formatMixLock(lock));
    const locked = [...lock.values()].flatMap((e) => (e.kind === "hex" ? [{ app: e.app, package: e.package, version: e.version }] : []));
    if (opts.json) printJson({ path, packages: locked });
    else printLines([`${path}: ${locked.length} packages`, ...locked.map((p) => `  ${p.package} ${p.version}`)]);
  });
}
