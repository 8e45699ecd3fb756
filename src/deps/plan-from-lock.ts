// From a project's dependency closure (closure.ts) to what can be built: a definition per
// package, from its Hex metadata or from its git checkout, with the locked sources.
//
// Hex packages are fetched from their repository, which verifies them against its signed
// registry; the result must also carry the checksums mix.lock recorded, or the lock and the
// repository disagree and nothing is built. Git packages are packed from their checkout at
// the locked commit into a package tarball of all their files, so that they build like any
// other source; their identity is the commit.
//
// Unlike realize/plan.ts (planBuild), nothing is resolved and no derivation hash is computed
// here: the hashes depend on each package's compile-time reads, known only as packages are
// found or built (see compile-env.ts and realize-deps.ts).
import { BeamixError } from "../errors.ts";
import type { FetchedTarball, HexRepo } from "../hex/registry/client.ts";
import { buildTarball } from "../hex/tarball.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import { lockEntryRepo } from "../mix/lock.ts";
import { systemInputsOfTarball } from "../native/detect.ts";
import { precompiledKindOfFiles } from "../native/precompiled.ts";
import { type Definition } from "../derivation/definition.ts";
import { definitionFromHexRelease } from "../derivation/definition-from-hex.ts";
import { validateDefinition } from "../derivation/definition-validate.ts";
import { buildSystemGuessedByMix, buildSystemOfMixManager, type BuildSystem } from "../build-system/registry.ts";
import { applyOverride, loadDefinitionDirs } from "../derivation/definition-file.ts";
import type { SourceRef } from "../realize/plan.ts";
import type { DepNode, DepsClosure } from "./closure.ts";
import { checkoutFiles } from "./git.ts";

export interface LockedPackage {
  name: string; // Hex package name; the app name for a git dependency
  version: string;
  app: string;
  repo: string; // Hex repository, or "git"
  node: DepNode;
  definition: Definition;
  deps: string[]; // names of the inputs (packages of this plan)
  source: SourceRef; // what a build unpacks
  tarball: Buffer; // the package tarball (Hex), or the checkout packed as one (git)
  gitCheckout?: string; // directory of the checkout at the locked commit
  gitCache?: string; // the bare cache repository holding that commit
}

export interface LockPlanOptions {
  repos: ReadonlyMap<string, HexRepo>;
  definitionDirs?: readonly string[];
  // Git dependencies: their checkout directory and version (from their mix.exs).
  git: ReadonlyMap<string, { dir: string; version: string; cache: string }>;
  // How a Hex tarball is had (default: repo.tarball), e.g. from those fetched ahead.
  tarball?: (repo: HexRepo, name: string, version: string) => Promise<FetchedTarball>;
}

function managerOf(node: DepNode): BuildSystem | undefined {
  if (node.manager === null) return undefined;
  const m = buildSystemOfMixManager(node.manager);
  if (!m) throw new BeamixError(`${node.decl?.from ?? "mix.exs"}: dependency ${node.app} has manager: ${node.manager}, which beamix cannot build with`);
  return m;
}

export async function planFromLock(closure: DepsClosure, opts: LockPlanOptions): Promise<Map<string, LockedPackage>> {
  const overrides = await loadDefinitionDirs(opts.definitionDirs ?? []);
  const nameOf = new Map<string, string>(); // app -> package name
  for (const n of closure.nodes.values()) nameOf.set(n.app, n.source.kind === "hex" ? n.source.lock.package : n.app);
  const names = new Map<string, string>();
  for (const [app, name] of nameOf) {
    const other = names.get(name);
    if (other !== undefined) throw new BeamixError(`mix.lock: apps ${other} and ${app} both come from a package named ${name}`);
    names.set(name, app);
  }

  const fetched = await Promise.all(
    [...closure.nodes.values()].map(async (node): Promise<LockedPackage> => {
      const inputDeps = node.inputs.filter((a) => nameOf.has(a));
      const optionalOf = (app: string): boolean => node.optionalInputs.includes(app);
      const repoOf = (app: string): string => {
        const n = closure.nodes.get(app)!;
        return n.source.kind === "hex" ? lockEntryRepo(n.source.lock) : "git";
      };
      let pkg: LockedPackage;
      if (node.source.kind === "hex") {
        const lock = node.source.lock;
        const repoName = lockEntryRepo(lock);
        const repo = opts.repos.get(repoName);
        if (!repo) throw new BeamixError(`mix.lock: ${node.app} comes from the Hex repository ${repoName}, which is not configured (beamix repo add ${repoName} URL --public-key FILE, or mix hex.repo add, or for this command --repo-name ${repoName} --repo URL --public-key FILE)`);
        const t = await (opts.tarball ? opts.tarball(repo, lock.package, lock.version) : repo.tarball(lock.package, lock.version));
        for (const [what, locked, got] of [["inner", lock.innerChecksum, t.innerChecksum], ["outer", lock.outerChecksum, t.outerChecksum]] as const) {
          if (locked !== undefined && locked.toLowerCase() !== got) {
            throw new BeamixError(`mix.lock: the ${what} checksum of ${lock.package} ${lock.version} is ${locked}, but repository ${repoName} has ${got}`);
          }
        }
        const definition = definitionFromHexRelease(t.metadata, {
          repo: repoName,
          innerChecksum: t.innerChecksum,
          outerChecksum: t.outerChecksum,
          dependencies: inputDeps.map((a) => ({ package: nameOf.get(a)!, app: a, optional: optionalOf(a), repository: repoOf(a) })),
        });
        // The same system inputs as `beamix build` finds, so both give the build one identity.
        const system = systemInputsOfTarball(t.bytes, t.metadata);
        if (system.length > 0) definition.systemInputs = system;
        if (precompiledKindOfFiles(t.metadata.files)) definition.precompiledNif = "download";
        pkg = { name: lock.package, version: lock.version, app: node.app, repo: repoName, node, definition, deps: [], source: { kind: "hex", repo }, tarball: t.bytes };
        if (t.metadata.app !== node.app) throw new BeamixError(`mix.lock: ${lock.package} ${lock.version} is locked as app ${node.app}, but its metadata says app ${t.metadata.app}`);
      } else {
        const lock = node.source.lock;
        const checkout = opts.git.get(node.app);
        if (!checkout) throw new BeamixError(`git dependency ${node.app} was not checked out`);
        const files = await checkoutFiles(checkout.dir);
        const buildSystem = managerOf(node) ?? guessBuildSystem(files.map((f) => f.path));
        const metadata: HexMetadata = {
          name: node.app,
          version: checkout.version,
          app: node.app,
          files: files.map((f) => f.path),
          licenses: [],
          buildTools: [buildSystem],
          requirements: [],
          links: [],
          other: [],
        };
        const packed = buildTarball({ metadata, files });
        const definition = validateDefinition(
          {
            name: node.app,
            version: checkout.version,
            app: node.app,
            source: { type: "git", url: lock.url, commit: lock.rev },
            buildSystem,
            inputs: inputDeps.map((a) => ({ name: nameOf.get(a)!, app: a, optional: optionalOf(a), repo: repoOf(a) })),
          },
          `${node.decl?.from ?? "mix.exs"} (git dependency ${node.app})`,
        );
        pkg = {
          name: node.app,
          version: checkout.version,
          app: node.app,
          repo: "git",
          node,
          definition,
          deps: [],
          source: { kind: "local", tarball: packed.tarball, origin: `${lock.url}#${lock.rev}` },
          tarball: packed.tarball,
          gitCheckout: checkout.dir,
          gitCache: checkout.cache,
        };
      }
      const manager = managerOf(node);
      if (manager) pkg.definition.buildSystem = manager;
      pkg.definition.arguments.mixEnv = node.env;
      const override = overrides.get(pkg.name);
      if (override) {
        const before = pkg.definition.source;
        pkg.definition = await applyOverride(override, pkg.definition);
        if (JSON.stringify(pkg.definition.source) !== JSON.stringify(before)) {
          throw new BeamixError(`${override.file}: a definition used by beamix deps must keep the locked source of ${pkg.name} ${pkg.version}`);
        }
      }
      pkg.deps = pkg.definition.inputs.map((i) => i.name).filter((n) => names.has(n));
      return pkg;
    }),
  );
  // In the closure's order: inputs first.
  const out = new Map<string, LockedPackage>();
  for (const p of fetched) out.set(p.name, p);
  return new Map([...closure.nodes.keys()].map((app) => [nameOf.get(app)!, out.get(nameOf.get(app)!)!]));
}

// Mix's guess when a dependency names no manager.
function guessBuildSystem(files: string[]): BuildSystem {
  const guessed = buildSystemGuessedByMix(files);
  if (guessed === undefined) throw new BeamixError(`git dependency has no mix.exs, rebar.config or Makefile: Mix could not compile it either`);
  return guessed;
}
