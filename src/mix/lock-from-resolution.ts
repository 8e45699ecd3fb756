// The mix.lock that `mix deps.get` writes for a set of requirements: resolved against a Hex
// repository, with each release's checksums, build tools (managers) and dependencies.
import type { HexRepo } from "../hex/registry/client.ts";
import { hexPackageSource, resolve } from "../resolve/resolve.ts";
import type { MixLock } from "./lock.ts";

export async function lockForRequirements(repo: HexRepo, roots: { name: string; requirement: string }[]): Promise<MixLock> {
  const res = await resolve(roots, hexPackageSource([repo]));
  const lock: MixLock = new Map();
  for (const p of res.packages.values()) {
    const t = await repo.tarball(p.name, p.version);
    lock.set(t.metadata.app, {
      kind: "hex",
      app: t.metadata.app,
      package: p.name,
      version: p.version,
      innerChecksum: t.innerChecksum,
      managers: t.metadata.buildTools,
      deps: p.release.dependencies.map((d) => ({ app: d.app, requirement: d.requirement, package: d.package, repo: d.repository, optional: d.optional })),
      repo: repo.name,
      outerChecksum: t.outerChecksum,
    });
  }
  return lock;
}
