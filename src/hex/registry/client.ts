// A client for one Hex repository (repo.hex.pm, a mirror, or any static repository): signed
// registry resources and checksum-verified package tarballs in a content-addressed cache.
// Every record is verified against the configured public key and must name the configured
// repository; a mirror is only ever a transport.
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../../errors.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";
import { HEXPM_PUBLIC_KEY_PEM } from "../hexpm-key.ts";
import type { HexMetadata } from "../metadata.ts";
import { readTarball } from "../tarball.ts";
import { MetadataMemo } from "./metadata-memo.ts";
import { checkPackageName, checkVersion, packageResource, tarballResource } from "./paths.ts";
import type { Names, Package, Release, Versions } from "./records.ts";
import { PackageCache } from "./package-cache.ts";
import { rollbackOf } from "./rollback.ts";
import { getUrl, getUrlRevalidating, RequestRefused, type GetOptions } from "./transport.ts";
import { sha256Hex } from "../../util/sha256.ts";

export const HEXPM_URL = "https://repo.hex.pm";
export const DEFAULT_TIMEOUT_MS = 60_000;
// Hex's own limit for a package tarball.
export const TARBALL_MAX_BYTES = 16 * 1024 * 1024;
// Downloaded (gzipped) size of one registry resource; repo.hex.pm's largest is a few MiB.
export const REGISTRY_MAX_BYTES = 32 * 1024 * 1024;

export interface HexRepoConfig {
  name: string; // the repository name every signed record must carry ("hexpm")
  url: string; // base URL: http://, https:// or file://
  publicKeyPem: string; // the key the registry must be signed with
  cacheDir: string; // tarballs go to cacheDir/tarballs/sha256-<outer checksum>.tar
  timeoutMs?: number; // per request, body included (default 60 s)
  // Accept a package record that lost releases or retirements against the copy verified before
  // (rollback.ts); by default it is refused.
  allowRollback?: boolean;
  // Sent as Hex sends it (hex_core's `repo_key`): the `authorization` header, the key as it is.
  authKey?: string;
  // The repository name signed records carry, when it differs from `name`: an organization
  // "hexpm:acme" is served under <hexpm>/repos/acme and its records say "acme" (hex_core's
  // repo_organization). Its dependencies on "acme" are read back as "hexpm:acme".
  recordRepository?: string;
  // Use only verified records and tarballs cached before; make no request.
  offline?: boolean;
  // Where a one-line warning goes (an unreachable registry answered from the cache).
  warn?: (line: string) => void;
}

// repo.hex.pm. HEX_MIRROR_URL (or the older HEX_MIRROR) only changes where the bytes come
// from: the name stays "hexpm" and the hexpm key still has to verify every record.
export function hexpmRepoConfig(opts: {
  cacheDir: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}): HexRepoConfig {
  const env = opts.env ?? process.env;
  const url = env.HEX_MIRROR_URL || env.HEX_MIRROR || HEXPM_URL;
  const config: HexRepoConfig = { name: "hexpm", url, publicKeyPem: HEXPM_PUBLIC_KEY_PEM, cacheDir: opts.cacheDir };
  if (opts.timeoutMs !== undefined) config.timeoutMs = opts.timeoutMs;
  return config;
}

export interface FetchedTarball {
  name: string;
  version: string;
  path: string; // the verified file in the cache
  bytes: Buffer;
  outerChecksum: string; // lowercase hex
  innerChecksum: string; // lowercase hex
  metadata: HexMetadata;
  release: Release; // the registry's record of this release
  fromCache: boolean;
}

export class HexRepo {
  readonly name: string;
  readonly url: string; // without a trailing slash
  readonly #config: HexRepoConfig;
  readonly #timeoutMs: number;
  // One registry read per package per HexRepo: a resolver asks for the same package many times.
  readonly #packages = new Map<string, Promise<Package>>();
  readonly #metadataMemo: MetadataMemo;
  readonly #packageCache: PackageCache;
  #warnedUnreachable = false;

  constructor(config: HexRepoConfig) {
    if (!/^(https?|file):\/\//i.test(config.url)) {
      throw new BeamixError(`repository ${config.name}: ${JSON.stringify(config.url)} is not an http://, https:// or file:// URL`);
    }
    this.#config = config;
    this.name = config.name;
    this.url = config.url.replace(/\/+$/, "");
    this.#timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#metadataMemo = new MetadataMemo(join(config.cacheDir, "metadata"));
    this.#packageCache = new PackageCache(config.cacheDir, { url: this.url, publicKeyPem: config.publicKeyPem });
  }

  get offline(): boolean {
    return this.#config.offline === true;
  }

  #getOptions(maxBytes: number): GetOptions {
    const opts: GetOptions = { timeoutMs: this.#timeoutMs, maxBytes };
    if (this.#config.authKey !== undefined) opts.headers = { authorization: this.#config.authKey };
    return opts;
  }

  // A request the server refused for want of a key says which repository needs which setting.
  #refused(err: unknown): never {
    if (!(err instanceof RequestRefused)) throw err;
    const why = this.#config.authKey === undefined ? "it needs an auth key, and none is configured" : "the configured auth key was not accepted";
    throw new BeamixError(`registry ${this.name}: ${err.url} refused the request (HTTP ${err.status}): ${why} (beamix repo set ${this.name} --auth-key KEY)`);
  }

  #offlineMiss(what: string): never {
    throw new BeamixError(`registry ${this.name}: offline, and ${what} is not in the cache (run once online first)`);
  }

  resourceUrl(resource: string): string {
    return `${this.url}/${resource}`;
  }

  async names(): Promise<Names> {
    const { decodeNames } = await import("./proto.ts");
    const names = this.#decode("names", await this.#signed("names"), decodeNames);
    this.#checkRepository("names", names.repository);
    return names;
  }

  async versions(): Promise<Versions> {
    const { decodeVersions } = await import("./proto.ts");
    const versions = this.#decode("versions", await this.#signed("versions"), decodeVersions);
    this.#checkRepository("versions", versions.repository);
    return versions;
  }

  package(name: string): Promise<Package> {
    let p = this.#packages.get(name);
    if (!p) {
      p = this.#fetchPackage(name);
      this.#packages.set(name, p);
      p.catch(() => this.#packages.delete(name));
    }
    return p;
  }

  // The package's record, verified. A record verified earlier is kept with its ETag
  // (package-cache.ts) and used again when the server answers 304 Not Modified; a new one must not
  // have lost any of its releases or retirements (rollback.ts).
  // Offline, or when the registry cannot be reached, the verified copy kept before is the answer
  // (with a warning, once, in the second case); a registry that answers is always believed over it.
  async #fetchPackage(name: string): Promise<Package> {
    checkPackageName(name, `registry ${this.name}`);
    const resource = packageResource(name);
    const url = this.resourceUrl(resource);
    const cached = await this.#packageCache.read(name);
    if (this.offline) return cached?.package ?? this.#offlineMiss(`the record of package ${name}`);
    let got;
    try {
      got = await getUrlRevalidating(url, this.#getOptions(REGISTRY_MAX_BYTES), cached?.etag || undefined);
    } catch (err) {
      if (err instanceof RequestRefused || !cached) this.#refused(err);
      if (!this.#warnedUnreachable) {
        this.#warnedUnreachable = true;
        (this.#config.warn ?? warnOnStderr)(`registry ${this.name}: ${errorMessage(err)}; using the verified records cached before`);
      }
      return cached.package;
    }
    if ("notModified" in got) return cached!.package;
    if (!got.found) throw new BeamixError(`registry ${this.name}: no package ${name} (${url}: ${got.status})`);
    const { decodePackage } = await import("./proto.ts");
    const pkg = this.#asNamed(this.#decode(resource, await this.#verify(resource, got.body), decodePackage), resource);
    // A correctly signed record of another package must not stand in for the one asked for.
    if (pkg.name !== name) {
      throw new BeamixError(`registry ${this.name}: ${resource} holds the record of package ${JSON.stringify(pkg.name)}, not ${name}`);
    }
    const lost = cached && !this.#config.allowRollback ? rollbackOf(cached.package, pkg) : undefined;
    if (lost) {
      throw new BeamixError(`registry ${this.name}: ${url} is older than the record verified before: it ${lost} (a replayed record? --allow-registry-rollback accepts it)`);
    }
    // Kept for revalidation (with its ETag, when the server gave one) and for offline use; a cache
    // that cannot be written is not an error.
    await this.#packageCache.write(name, got.etag ?? "", pkg).catch(() => {});
    return pkg;
  }

  async release(name: string, version: string): Promise<Release> {
    const pkg = await this.package(name);
    const release = pkg.releases.find((r) => r.version === version);
    if (!release) throw new BeamixError(`registry ${this.name}: package ${name} has no release ${version}`);
    return release;
  }

  // The tarball of NAME VERSION, verified against the signed registry: its sha256 must be the
  // release's outer checksum and its own inner checksum the release's inner checksum. Only a
  // tarball that passes is cached; a cached one is hashed again before use.
  async tarball(name: string, version: string): Promise<FetchedTarball> {
    checkPackageName(name, `registry ${this.name}`);
    checkVersion(version, `registry ${this.name}: package ${name}`);
    const release = await this.release(name, version);
    if (!release.outerChecksum) {
      throw new BeamixError(`registry ${this.name}: ${name} ${version} has no outer checksum in the registry, so its tarball cannot be verified`);
    }
    const outer = release.outerChecksum.toString("hex");
    const dir = join(this.#config.cacheDir, "tarballs");
    const path = join(dir, `sha256-${outer}.tar`);

    const cached = await readCached(path);
    if (cached && sha256Hex(cached) === outer) {
      return { ...this.#verifyTarball(name, version, release, cached, path), path, fromCache: true };
    }
    if (cached) await rm(path, { force: true }); // damaged: fetch it again
    if (this.offline) this.#offlineMiss(`the tarball of ${name} ${version}`);

    const resource = tarballResource(name, version);
    const url = this.resourceUrl(resource);
    const got = await getUrl(url, this.#getOptions(TARBALL_MAX_BYTES)).catch((err) => this.#refused(err));
    if (!got.found) throw new BeamixError(`registry ${this.name}: tarball ${name} ${version} not found at ${url} (${got.status})`);
    const actual = sha256Hex(got.body);
    if (actual !== outer) {
      throw new BeamixError(
        `registry ${this.name}: ${url} has sha256 ${actual}, but the registry's outer checksum for ${name} ${version} is ${outer}`,
      );
    }
    const verified = this.#verifyTarball(name, version, release, got.body, url);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(path, got.body);
    return { ...verified, path, fromCache: false };
  }

  #verifyTarball(name: string, version: string, release: Release, bytes: Buffer, source: string) {
    const outerChecksum = release.outerChecksum!.toString("hex");
    const t = readTarball(bytes, { file: source, expectedOuterChecksum: outerChecksum, parseMetadata: this.#metadataMemo.parse });
    const innerChecksum = release.innerChecksum.toString("hex");
    if (t.innerChecksum.toLowerCase() !== innerChecksum) {
      throw new BeamixError(
        `registry ${this.name}: ${source} has inner checksum ${t.innerChecksum.toLowerCase()}, but the registry says ${innerChecksum} for ${name} ${version}`,
      );
    }
    if (t.metadata.name !== name || t.metadata.version !== version) {
      throw new BeamixError(`registry ${this.name}: ${source} contains ${t.metadata.name} ${t.metadata.version}, not ${name} ${version}`);
    }
    this.#metadataMemo.remember(t.metadata);
    return { name, version, bytes, outerChecksum, innerChecksum, metadata: t.metadata, release };
  }

  async #signed(resource: string, notFound?: string): Promise<Buffer> {
    if (this.offline) this.#offlineMiss(`the ${resource} index`);
    const url = this.resourceUrl(resource);
    const got = await getUrl(url, this.#getOptions(REGISTRY_MAX_BYTES)).catch((err) => this.#refused(err));
    if (!got.found) {
      throw new BeamixError(`registry ${this.name}: ${notFound ?? `${resource} not found`} (${url}: ${got.status})`);
    }
    return this.#verify(resource, got.body);
  }

  async #verify(resource: string, body: Buffer): Promise<Buffer> {
    const { verifySigned } = await import("./signed.ts");
    return verifySigned(body, this.#config.publicKeyPem, { repository: this.name, resource });
  }

  #decode<T>(resource: string, payload: Buffer, decode: (b: Buffer) => T): T {
    try {
      return decode(payload);
    } catch (err) {
      throw new BeamixError(`registry ${this.name}: ${resource} is signed but malformed (${errorMessage(err)})`);
    }
  }

  #checkRepository(resource: string, repository: string): void {
    const expected = this.#config.recordRepository ?? this.name;
    if (repository !== expected) {
      throw new BeamixError(
        `registry ${this.name}: ${resource} belongs to repository ${JSON.stringify(repository)}, not ${JSON.stringify(expected)}`,
      );
    }
  }

  // A package record under this repository's own name: an organization's records say "acme"
  // where beamix (and mix.lock) say "hexpm:acme", and so do its dependencies on its own packages.
  #asNamed(pkg: Package, resource: string): Package {
    this.#checkRepository(resource, pkg.repository);
    const own = this.#config.recordRepository;
    if (own === undefined || !this.name.endsWith(`:${own}`)) return pkg;
    const named = (r: string) => (r === own ? this.name : r);
    return {
      ...pkg,
      repository: this.name,
      releases: pkg.releases.map((r) => ({ ...r, dependencies: r.dependencies.map((d) => ({ ...d, repository: named(d.repository) })) })),
    };
  }
}


function warnOnStderr(line: string): void {
  process.stderr.write(`beamix: warning: ${line}\n`);
}

// A cache entry, or undefined when there is none (or it is too big to be a tarball).
async function readCached(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > TARBALL_MAX_BYTES) return undefined;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
