// Build-only inputs of a plan: the rebar3 plugins a package's configuration names become its
// definition's buildInputs (src/derivation/definition.ts), resolved from the package's own
// repository; realized like any package, they reach only the build that names them (the
// rebar3 recipe puts them where rebar3 finds plugins without fetching), never a profile,
// a `deps` tree or an item's references.
import { BeamixError } from "../errors.ts";
import { type Input } from "../derivation/definition.ts";
import { definitionFromHexRelease } from "../derivation/definition-from-hex.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { pluginsOfTarball } from "../project/rebar3-plugins.ts";
import { DEFAULT_REPO, hexPackageSource, resolve, type RootRequirement } from "../resolve/resolve.ts";
import type { Plan, PlannedPackage } from "./plan.ts";

// A plugin that is not a Hex package (git) is refused, unless a definition file edits the
// definition (foreignDecidedElsewhere): it can name a Hex package in its place.
export async function rebar3PluginInputs(tarball: Uint8Array, where: string, repo: string, o: { foreignDecidedElsewhere?: boolean } = {}): Promise<Input[]> {
  const plugins = await pluginsOfTarball(tarball, where);
  if (plugins.other.length > 0 && !o.foreignDecidedElsewhere) {
    throw new BeamixError(
      `${where}: rebar3 plugin${plugins.other.length > 1 ? "s" : ""} ${plugins.other.join(", ")} ${plugins.other.length > 1 ? "are" : "is"} not a Hex package; write a definition file whose buildInputs name Hex packages`,
    );
  }
  return plugins.hex.map((p) => ({ name: p.name, app: p.app, optional: false, repo }));
}

export interface PluginInputOptions {
  repos: ReadonlyMap<string, HexRepo>; // by repository name
}

const tarballOf = async (p: PlannedPackage): Promise<Uint8Array> => (p.source.kind === "local" ? p.source.tarball : (await p.source.repo.tarball(p.name, p.version)).bytes);

// For a plan made from a lock (`beamix deps`), which has no entry for plugins: each rebar3
// package whose definition names no build inputs gets its plugins, resolved from the
// repositories with the plan's versions pinned and added as build-only packages (with what they
// need, and their own plugins), so the plan stays in dependency order. The caller's own list of
// packages, which is what `deps` writes out, is left alone.
export async function addPluginInputs(plan: Plan, o: PluginInputOptions): Promise<void> {
  const source = hexPackageSource([...o.repos.values()]);
  for (let fresh = [...plan.packages.values()]; fresh.length > 0; ) {
    const wanted = new Map<string, RootRequirement>();
    for (const p of fresh) {
      if (p.definition.buildSystem === "rebar3" && p.definition.buildInputs === undefined) {
        const plugins = await rebar3PluginInputs(await tarballOf(p), `${p.name} ${p.version}`, p.repo === "git" ? DEFAULT_REPO : p.repo);
        if (plugins.length > 0) p.definition.buildInputs = plugins;
      }
      for (const b of p.definition.buildInputs ?? []) if (!plan.packages.has(b.name)) wanted.set(b.name, { name: b.name, app: b.app, repo: b.repo });
    }
    if (wanted.size === 0) break;
    const pins = new Map([...plan.packages.values()].map((p) => [p.name, p.version]));
    const more = await resolve([...wanted.values()], source, { locked: pins });
    fresh = [];
    for (const q of more.packages.values()) {
      if (plan.packages.has(q.name)) continue;
      const repo = o.repos.get(q.repo);
      if (!repo) throw new BeamixError(`rebar3 plugin ${q.name} comes from the Hex repository ${q.repo}, which is not configured`);
      const fetched = await repo.tarball(q.name, q.version);
      const definition = definitionFromHexRelease(fetched.metadata, {
        repo: q.repo,
        innerChecksum: q.release.innerChecksum,
        outerChecksum: q.release.outerChecksum,
        dependencies: q.release.dependencies,
      });
      const planned: PlannedPackage = { name: q.name, version: q.version, app: definition.app, repo: q.repo, definition, deps: [], buildOnly: true, source: { kind: "hex", repo } };
      plan.packages.set(q.name, planned);
      fresh.push(planned);
    }
    for (const p of fresh) p.deps = p.definition.inputs.map((i) => i.name).filter((n) => plan.packages.has(n));
  }
  for (const p of plan.packages.values()) {
    const names = (p.definition.buildInputs ?? []).map((i) => i.name);
    if (names.length > 0) p.buildDeps = names;
  }
  inDependencyOrder(plan);
}

// Reorders plan.packages so that every package comes after its inputs and build inputs.
function inDependencyOrder(plan: Plan): void {
  const ordered = new Map<string, PlannedPackage>();
  const visit = (name: string, path: string[]): void => {
    if (ordered.has(name)) return;
    if (path.includes(name)) throw new BeamixError(`dependency cycle: ${[...path, name].join(" → ")}`);
    const p = plan.packages.get(name)!;
    for (const d of [...p.deps, ...(p.buildDeps ?? [])]) visit(d, [...path, name]);
    ordered.set(name, p);
  };
  for (const name of plan.packages.keys()) visit(name, []);
  plan.packages.clear();
  for (const [name, p] of ordered) plan.packages.set(name, p);
}
