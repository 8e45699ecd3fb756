// `beamix hex registry build DIR`: DIR/tarballs/*.tar → a signed static Hex repository in DIR
// (names, versions, packages/NAME, public_key), byte-identical to `mix hex.registry build`.
import { createPrivateKey } from "node:crypto";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import { compareVersions } from "../../elixir/version.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { readTarball } from "../tarball.ts";
import { encodeNames, encodePackage, encodeVersions, type Package, type Release } from "./proto.ts";
import { checkPackageName, packageResource, tarballFileName } from "./paths.ts";
import { publicKeyFileText, signResource } from "./signed.ts";

export interface BuildRegistryOptions {
  dir: string; // the repository root; tarballs are read from DIR/tarballs
  name: string; // the repository name written into every resource
  privateKeyPem: string; // RSA private key, PKCS#1 or PKCS#8 PEM
}

export interface BuiltPackage {
  name: string;
  versions: string[]; // ascending
  updatedAt: number; // seconds since the epoch
}

export interface BuildRegistryResult {
  packages: number;
  releases: number;
  index: BuiltPackage[]; // by name
  files: string[]; // written, relative to DIR, in the order written
}

interface Collected {
  release: Release;
  mtime: number;
}

// Byte order, as Erlang sorts binaries (names are ASCII anyway).
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export async function buildRegistry(opts: BuildRegistryOptions): Promise<BuildRegistryResult> {
  const { dir, name: repository } = opts;
  if (repository === "" || /[\s/]/.test(repository)) {
    throw new BeamixError(`registry build: ${JSON.stringify(repository)} is not a valid repository name`);
  }
  checkPrivateKey(opts.privateKeyPem);

  const tarballsDir = join(dir, "tarballs");
  let entries;
  try {
    entries = await readdir(tarballsDir, { withFileTypes: true });
  } catch (err) {
    throw new BeamixError(`registry build: cannot read ${tarballsDir} (${errorMessage(err)})`);
  }

  // Everything is read and checked before anything is written: a bad tarball leaves DIR as it was.
  const byPackage = new Map<string, Collected[]>();
  for (const entry of entries) {
    if (!entry.name.endsWith(".tar")) continue;
    const file = join(tarballsDir, entry.name);
    if (!entry.isFile()) throw new BeamixError(`registry build: ${file} is not a regular file`);
    const [buf, st] = await Promise.all([readFile(file), stat(file)]);
    const t = readTarball(buf, { file });
    const { name, version } = t.metadata;
    checkPackageName(name, file);
    const expected = tarballFileName(name, version);
    if (entry.name !== expected) {
      throw new BeamixError(`registry build: ${file} holds ${name} ${version}, so it must be named ${expected}`);
    }
    const release: Release = {
      version,
      innerChecksum: Buffer.from(t.innerChecksum, "hex"),
      outerChecksum: Buffer.from(t.outerChecksum, "hex"),
      // Hex's tarball reader turns the requirements into a map keyed by package name, and the
      // registry build walks that map: in name order (Erlang's order for maps of up to 32 keys;
      // a release with more dependencies has a hash order this does not reproduce).
      dependencies: [...t.metadata.requirements].sort((a, b) => byBytes(a.name, b.name)).map((r) => ({
        package: r.name,
        requirement: r.requirement,
        optional: r.optional,
        app: r.app,
        repository: r.repository,
      })),
    };
    const list = byPackage.get(name) ?? [];
    list.push({ release, mtime: Math.floor(st.mtimeMs / 1000) });
    byPackage.set(name, list);
  }

  const index: BuiltPackage[] = [];
  const packageFiles: [string, Buffer][] = [];
  for (const name of [...byPackage.keys()].sort(byBytes)) {
    const collected = byPackage.get(name)!;
    collected.sort((a, b) => compareVersions(a.release.version, b.release.version));
    for (let i = 1; i < collected.length; i++) {
      // Two file names can only differ in a build suffix Elixir ignores when ordering (1.0.0+a, 1.0.0+b).
      if (compareVersions(collected[i - 1].release.version, collected[i].release.version) === 0) {
        throw new BeamixError(
          `registry build: ${tarballFileName(name, collected[i - 1].release.version)} and ${tarballFileName(name, collected[i].release.version)} are the same version`,
        );
      }
    }
    const pkg: Package = { name, repository, releases: collected.map((c) => c.release) };
    packageFiles.push([packageResource(name), signResource(encodePackage(pkg), opts.privateKeyPem)]);
    index.push({
      name,
      versions: pkg.releases.map((r) => r.version),
      updatedAt: Math.max(...collected.map((c) => c.mtime)),
    });
  }

  const names = encodeNames({
    repository,
    packages: index.map((p) => ({ name: p.name, updatedAt: { seconds: p.updatedAt, nanos: 0 } })),
  });
  // `mix hex.registry build` has no way to retire a release, and neither has this.
  const versions = encodeVersions({
    repository,
    packages: index.map((p) => ({ name: p.name, versions: p.versions, retired: [] })),
  });

  // Package records first, the indexes that point at them last, so a reader of a repository
  // being rebuilt never finds a listed package without its record.
  const files: [string, Buffer | string][] = [
    ["public_key", publicKeyFileText(opts.privateKeyPem)],
    ...packageFiles,
    ["names", signResource(names, opts.privateKeyPem)],
    ["versions", signResource(versions, opts.privateKeyPem)],
  ];
  if (packageFiles.length > 0) await mkdir(join(dir, "packages"), { recursive: true });
  for (const [rel, data] of files) await writeFileAtomic(join(dir, rel), data);
  const releases = index.reduce((n, p) => n + p.versions.length, 0);
  return { packages: index.length, releases, index, files: files.map(([rel]) => rel) };
}

function checkPrivateKey(pem: string): void {
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch (err) {
    throw new BeamixError(`registry build: the private key is not a valid PEM private key (${errorMessage(err)})`);
  }
  if (type !== "rsa") throw new BeamixError(`registry build: the private key is ${type}, but Hex registries are signed with RSA`);
}
