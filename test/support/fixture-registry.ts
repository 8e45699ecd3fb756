// The fixture corpus as a Hex repository: every package under test/fixtures/packages packed with
// beamix's packer, signed with a throw-away RSA key under the name "hexpm" (so it can stand in for
// hex.pm as a mirror), and served on loopback. Later suites build against it.
import { generateKeyPairSync } from "node:crypto";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { packDirectory, tarballFileName } from "../../src/project/hex-pack.ts";
import { buildRegistry } from "../../src/hex/registry/build.ts";
import { startStaticServer, type StaticServer } from "./static-server.ts";

export const fixturesDir = fileURLToPath(new URL("../fixtures/", import.meta.url));
export const fixturePackagesDir = join(fixturesDir, "packages");

export async function fixturePackageDirs(): Promise<string[]> {
  return (await readdir(fixturePackagesDir)).sort().map((d) => join(fixturePackagesDir, d));
}

export function testKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "pkcs1", format: "pem" }).toString(),
  };
}

export interface FixtureRegistry {
  dir: string; // repository root: tarballs/, names, versions, packages/, public_key
  publicKeyPath: string;
  publicKeyPem: string;
  privateKeyPem: string;
}

// Packs the corpus into dir/tarballs and builds the signed registry beside it.
export async function makeFixtureRegistry(dir: string, name = "hexpm"): Promise<FixtureRegistry> {
  return makeRegistry(dir, await fixturePackageDirs(), name);
}

// The same for any package directories (the benchmarks' generated closure).
export async function makeRegistry(dir: string, packageDirs: readonly string[], name = "hexpm"): Promise<FixtureRegistry> {
  await mkdir(join(dir, "tarballs"), { recursive: true });
  for (const pkgDir of packageDirs) {
    const packed = await packDirectory(pkgDir);
    await writeFile(join(dir, "tarballs", tarballFileName(packed.metadata)), packed.tarball);
  }
  const keys = testKeyPair();
  await buildRegistry({ dir, name, privateKeyPem: keys.privateKeyPem });
  return { dir, publicKeyPath: join(dir, "public_key"), ...keys };
}

export async function serveFixtureRegistry(reg: FixtureRegistry): Promise<StaticServer> {
  return startStaticServer({ root: reg.dir });
}
