// `beamix hex ...`: the Hex formats and repositories.
import { addToolchainOptions } from "../toolchain-options.ts";
import { readFile, mkdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BeamixError } from "../../errors.ts";
import { packDirectory, tarballFileName } from "../../project/hex-pack.ts";
import { unpackTarball } from "../../hex/unpack.ts";
import { buildRegistry } from "../../hex/registry/build.ts";
import { hexInfo } from "../../hex/registry/info.ts";
import { repoFromOptions, type RepoOptions } from "../repo-options.ts";
import { addRepoOptions } from "../context.ts";
import { registerHexLock, registerHexServe, registryPrivateKey } from "./hex-repo.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { printJson, printLines } from "../output.ts";

export function registerHexCommands(program: Command): void {
  const hex = program.command("hex").description("Hex package tarballs and repositories");

  const pack = hex
    .command("pack")
    .description("pack a package directory (mix, rebar3 or erlang.mk project) into a Hex tarball")
    .argument("<dir>", "package directory")
    .option("-o, --output <path>", "output file, or an existing directory to write NAME-VERSION.tar into")
    .option("--json", "print the result as JSON");
  addToolchainOptions(pack) // the package's mix.exs or rebar.config is read with the toolchain
    .action(async (dir: string, opts: { output?: string; json?: boolean }) => {
      const packed = await packDirectory(resolve(dir));
      const out = await outputPath(opts.output, tarballFileName(packed.metadata));
      await writeFileAtomic(out, packed.tarball);
      const { name, version } = packed.metadata;
      if (opts.json) printJson({ name, version, path: out, outerChecksum: packed.outerChecksum, innerChecksum: packed.innerChecksum });
      else printLines([out, `  ${name} ${version}  outer checksum ${packed.outerChecksum}  inner checksum ${packed.innerChecksum}`]);
    });

  hex
    .command("unpack")
    .description("verify a Hex tarball and unpack its contents into a new directory")
    .argument("<tarball>", "the .tar file")
    .argument("<dir>", "target directory (must not exist or be empty)")
    .option("--checksum <sha256>", "expected outer checksum (as in mix.lock or the registry)")
    .option("--json", "print the metadata as JSON")
    .action(async (tarball: string, dir: string, opts: { checksum?: string; json?: boolean }) => {
      const buf = await readInput(tarball);
      const unpacked = await unpackTarball(buf, resolve(dir), { file: tarball, expectedOuterChecksum: opts.checksum });
      const { name, version } = unpacked.metadata;
      const { innerChecksum, outerChecksum, files } = unpacked;
      if (opts.json) printJson({ name, version, path: resolve(dir), innerChecksum, outerChecksum, files });
      else printLines([`${name} ${version} → ${resolve(dir)} (${files.length} files)`]);
    });

  const registry = hex.command("registry").description("static signed Hex repositories");
  registry
    .command("build")
    .description("write names, versions, packages/NAME and public_key for DIR/tarballs/*.tar, signed with KEY")
    .argument("<dir>", "repository directory holding tarballs/")
    .requiredOption("--private-key <pem>", "RSA private key (PEM) to sign the registry with (Hex signs with RSA; beamix key generate makes Ed25519 keys, for binary caches)")
    .option("--generate-key", "create the --private-key file (RSA 2048, mode 0600) if it does not exist")
    .option("--name <name>", "repository name recorded in every resource", "hexpm")
    .action(async (dir: string, opts: { privateKey: string; generateKey?: boolean; name: string }) => {
      const key = await registryPrivateKey(opts.privateKey, opts.generateKey === true);
      const result = await buildRegistry({ dir: resolve(dir), name: opts.name, privateKeyPem: key.pem });
      printLines([
        ...(key.generated ? [`generated RSA key ${resolve(opts.privateKey)} (keep it private: it signs the registry)`] : []),
        `repository ${opts.name}: ${result.packages} packages, ${result.releases} releases → ${resolve(dir)}`,
      ]);
    });

  registerHexServe(hex);
  registerHexLock(hex);

  const infoCommand = hex
    .command("info")
    .description("list a package's versions, retirements and dependencies from a Hex repository")
    .argument("<name>", "package name")
    .option("--json", "print JSON");
  addRepoOptions(infoCommand).action(async (name: string, opts: RepoOptions & { json?: boolean }) => {
      const repo = await repoFromOptions(opts);
      const info = await hexInfo(repo, name);
      if (opts.json) return printJson(info);
      const lines = [`${info.name} (repository ${info.repository})`];
      for (const r of info.releases) {
        const retired = r.retired ? `  retired: ${r.retired.reason}${r.retired.message ? ` (${r.retired.message})` : ""}` : "";
        lines.push(`  ${r.version}${retired}`);
        for (const d of r.dependencies) {
          const extras = [d.optional ? "optional" : "", d.app !== d.package ? `app ${d.app}` : "", d.repository !== info.repository ? `repo ${d.repository}` : ""].filter(Boolean);
          lines.push(`    ${d.package} ${d.requirement}${extras.length ? `  (${extras.join(", ")})` : ""}`);
        }
      }
      printLines(lines);
    });
}

async function readInput(path: string): Promise<Buffer> {
  return readFile(path).catch((err) => {
    throw new BeamixError(`cannot read ${path}: ${err.code ?? err.message}`);
  });
}

async function outputPath(output: string | undefined, fileName: string): Promise<string> {
  if (!output) return resolve(fileName);
  const isDir = output.endsWith("/") || (await stat(output).then((s) => s.isDirectory(), () => false));
  if (!isDir) return resolve(output);
  await mkdir(output, { recursive: true });
  return resolve(join(output, fileName));
}
