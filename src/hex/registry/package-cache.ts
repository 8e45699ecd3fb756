// Verified registry records of packages, kept with the ETag they were served with, so that asking
// again costs a conditional GET answered "304 Not Modified" instead of a download, a signature
// check and a protobuf decode (and the protobuf library is not even loaded). As Hex keeps its
// registry cache in HEX_HOME, and revalidates it with If-None-Match.
//
// Only records that passed every check of the client (signature, repository, package name) are
// written, keyed by the repository's URL and public key as well as the package name. A cache file
// that cannot be read back exactly is ignored (and the record fetched in full). The directory is
// the user's own, trusted as Hex trusts its registry cache in HEX_HOME: whoever can write there
// can already change what the user runs.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { sha256Hex } from "../../util/sha256.ts";
import type { Dependency, Package, Release } from "./records.ts";
import { RETIREMENT_REASONS, type RetirementReason } from "./records.ts";

const FORMAT = 1;

export interface CachedPackage {
  etag: string; // "" when the server gave none: the record is then kept for offline use only
  package: Package;
}

export class PackageCache {
  readonly dir: string;

  // One directory per repository URL and key: two repositories may both have a "plug".
  constructor(cacheDir: string, repo: { url: string; publicKeyPem: string }) {
    this.dir = join(cacheDir, "registry", sha256Hex(`${repo.url}\0${repo.publicKeyPem}`).slice(0, 32));
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  async read(name: string): Promise<CachedPackage | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(name), "utf8");
    } catch {
      return undefined;
    }
    try {
      return parseEntry(JSON.parse(text), name);
    } catch {
      return undefined; // damaged or from another version: fetched in full and rewritten
    }
  }

  async write(name: string, etag: string, pkg: Package): Promise<void> {
    const json = {
      format: FORMAT,
      etag,
      package: {
        ...pkg,
        releases: pkg.releases.map((r) => ({
          ...r,
          innerChecksum: r.innerChecksum.toString("hex"),
          ...(r.outerChecksum ? { outerChecksum: r.outerChecksum.toString("hex") } : {}),
        })),
      },
    };
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file(name), JSON.stringify(json));
  }
}

class Malformed extends Error {}

function check(ok: boolean): void {
  if (!ok) throw new Malformed();
}

const isString = (x: unknown): x is string => typeof x === "string";
const isHex = (x: unknown): x is string => isString(x) && /^([0-9a-f]{2})+$/.test(x);

function parseEntry(json: unknown, name: string): CachedPackage {
  const o = json as Record<string, unknown>;
  check(typeof o === "object" && o !== null && o.format === FORMAT && isString(o.etag));
  const p = o.package as Record<string, unknown>;
  check(typeof p === "object" && p !== null && p.name === name && isString(p.repository) && Array.isArray(p.releases));
  const releases = (p.releases as unknown[]).map(parseRelease);
  return { etag: o.etag as string, package: { name, repository: p.repository as string, releases } };
}

function parseRelease(json: unknown): Release {
  const r = json as Record<string, unknown>;
  check(typeof r === "object" && r !== null && isString(r.version) && isHex(r.innerChecksum) && Array.isArray(r.dependencies));
  check(r.outerChecksum === undefined || isHex(r.outerChecksum));
  const release: Release = {
    version: r.version as string,
    innerChecksum: Buffer.from(r.innerChecksum as string, "hex"),
    dependencies: (r.dependencies as unknown[]).map(parseDependency),
  };
  if (r.outerChecksum !== undefined) release.outerChecksum = Buffer.from(r.outerChecksum as string, "hex");
  if (r.retired !== undefined) {
    const t = r.retired as Record<string, unknown>;
    check(typeof t === "object" && t !== null && (RETIREMENT_REASONS as readonly unknown[]).includes(t.reason) && (t.message === undefined || isString(t.message)));
    release.retired = { reason: t.reason as RetirementReason, ...(t.message !== undefined ? { message: t.message as string } : {}) };
  }
  return release;
}

function parseDependency(json: unknown): Dependency {
  const d = json as Record<string, unknown>;
  check(typeof d === "object" && d !== null && isString(d.package) && isString(d.requirement) && typeof d.optional === "boolean" && isString(d.app) && isString(d.repository));
  return { package: d.package as string, requirement: d.requirement as string, optional: d.optional as boolean, app: d.app as string, repository: d.repository as string };
}
