// Dependency resolution with Mix's (Hex 2's) semantics: the newest releases that satisfy every
// requirement, found by a PubGrub-style conflict-driven search (unit propagation over
// incompatibilities, conflict resolution that learns a new incompatibility and backjumps).
//
// The rules, and where they come from:
// - Requirements are Elixir's (`Version.match?/2`, whose allow_pre defaults to true), which is
//   how Hex 2's solver reads them: a range admits the pre-releases inside it, so `~> 1.0`
//   admits 1.5.0-rc.0 but not 2.0.0-rc.0 (the range ends at 2.0.0-0).
// - Candidates are tried stable releases first, newest first, then pre-releases, newest first
//   (Hex 2 sorts versions this way before picking): a pre-release is chosen only when no
//   stable release can be. A root with allowPre orders its package by precedence alone.
//   (Hex 1 instead excluded pre-releases unless the requirement named one; Hex 2 dropped that.)
// - The next package to decide is, among those required and not yet decided, the one with
//   the fewest releases allowed by the requirements on it, ties by name (Hex's choice). Here
//   "requirements" are those of the request and of the releases decided so far, not the facts
//   learned from conflicts, so the result depends only on the registry and the request: it is
//   the first solution of a plain backtracking search in that order (learning only prunes
//   branches that hold no solution). test/resolve-differential.test.ts checks exactly that.
// - An optional dependency joins the closure only when the request or a package in the
//   closure requires it without `optional`; once in, every requirement on it applies,
//   including those of packages that declare it optional.
// - Locked versions are hard pins, as Hex's solver treats its lock ("optional dependencies
//   with a single version"): a locked package in the closure takes exactly that version,
//   even if retired. Deciding which lock entries still apply (Mix unlocks an entry whose
//   requirement changed) is the caller's job.
// - Retired releases are not candidates unless locked or allowed (allowRetired: "name" or
//   "name@version"). Hex 2.1 only warns about them; beamix refuses them by default.
import { matches, tryParseRequirement } from "../elixir/requirement.ts";
import { BeamixError } from "../errors.ts";
import { isValidPackageName } from "../hex/registry/paths.ts";
import { bit, PackageDomain, popcount, type DomainPolicy } from "./domain.ts";
import { explainFailure } from "./explain.ts";
import { isPackageAlias, resolvePackageName } from "./names.ts";
import { makeIncompatibility, type Cause, type Incompatibility, type Term } from "./incompatibility.ts";
import { DEFAULT_REPO, type PackageSource, type ReleaseDependency, type ReleaseInfo } from "./source.ts";

export { DEFAULT_REPO, hexPackageSource, memoryPackageSource } from "./source.ts";
export type { MemoryRegistry, PackageSource, ReleaseDependency, ReleaseInfo } from "./source.ts";

export interface RootRequirement {
  name: string; // Hex package name
  requirement?: string; // Elixir requirement; default: any version
  app?: string; // the OTP application expected (default: what dependents say, else the name)
  repo?: string; // default "hexpm"
  optional?: false; // a root is always required
  allowPre?: boolean; // order this package's candidates by precedence, pre-releases included
}

export interface ResolvedDependency {
  name: string; // package
  app: string;
  optional: boolean;
}

export interface ResolvedPackage {
  name: string;
  version: string;
  app: string;
  repo: string;
  release: ReleaseInfo;
  deps: ResolvedDependency[]; // the release's dependencies that are in the closure
}

export interface Resolution {
  packages: Map<string, ResolvedPackage>; // by package name, sorted by name
  aliases: Map<string, string>; // requested alias (elixir-phoenix) -> package (phoenix)
}

export interface ResolveOptions {
  locked?: Map<string, string>; // package name -> the only version allowed
  allowRetired?: string[]; // "name" (all its retired releases) or "name@version"
  rootName?: string; // who is asking, for explanations ("hello_beacon requires ...")
}

export async function resolve(roots: RootRequirement[], source: PackageSource, opts: ResolveOptions = {}): Promise<Resolution> {
  const aliases = new Map<string, string>();
  const named = await Promise.all(
    roots.map(async (r) => {
      if (!isPackageAlias(r.name)) return r;
      const found = await resolvePackageName(r.name, source, r.repo ?? DEFAULT_REPO);
      aliases.set(r.name, found.name);
      return { ...r, name: found.name };
    }),
  );
  checkRoots(named);
  const packages = await new Solver(named, source, opts).run();
  return { packages, aliases };
}

function checkRoots(roots: RootRequirement[]): void {
  const seen = new Map<string, RootRequirement>();
  for (const r of roots) {
    if (!isValidPackageName(r.name)) throw new BeamixError(`${JSON.stringify(r.name)} is not a Hex package name`);
    if (r.requirement !== undefined && !tryParseRequirement(r.requirement)) {
      throw new BeamixError(`${r.name}: ${JSON.stringify(r.requirement)} is not a valid requirement`);
    }
    const other = seen.get(r.name);
    if (other) {
      const repoA = other.repo ?? DEFAULT_REPO;
      const repoB = r.repo ?? DEFAULT_REPO;
      if (repoA !== repoB) throw new BeamixError(`${r.name} is requested from two repositories: ${repoA} and ${repoB}`);
      if (other.app !== undefined && r.app !== undefined && other.app !== r.app) {
        throw new BeamixError(`${r.name} is requested with two application names: ${other.app} and ${r.app}`);
      }
    }
    if (!other || (other.app === undefined && r.app !== undefined)) seen.set(r.name, r);
  }
}

interface Assignment {
  readonly pkg: string;
  readonly set: bigint;
  readonly level: number;
  readonly cause: Incompatibility | null; // null: a decision
}

class SolveFailure {
  readonly incompatibility: Incompatibility;
  constructor(incompatibility: Incompatibility) {
    this.incompatibility = incompatibility;
  }
}

class Solver {
  readonly #roots: RootRequirement[];
  readonly #source: PackageSource;
  readonly #opts: ResolveOptions;
  readonly #domains = new Map<string, PackageDomain>();
  readonly #loading = new Map<string, Promise<PackageDomain>>();
  readonly #incompatibilities = new Map<string, Incompatibility[]>();
  // For each package and dependency name, the releases whose dependency is already a fact.
  readonly #dependenciesAdded = new Map<string, bigint>();
  readonly #assignments: Assignment[] = [];
  readonly #accumulated = new Map<string, bigint>();
  readonly #decisions = new Map<string, number>(); // package -> usable release index
  #level = 0;

  constructor(roots: RootRequirement[], source: PackageSource, opts: ResolveOptions) {
    this.#roots = roots;
    this.#source = source;
    this.#opts = opts;
  }

  async run(): Promise<Map<string, ResolvedPackage>> {
    await Promise.all(this.#roots.map((r) => this.#load(r.name, r.repo ?? DEFAULT_REPO)));
    try {
      for (const r of this.#roots) this.#addRoot(r);
      this.#propagate(this.#roots.map((r) => r.name));
      for (;;) {
        const pkg = this.#pick();
        if (pkg === undefined) break;
        const domain = this.#domain(pkg);
        const allowed = this.#allowed(pkg);
        const index = domain.priority.find((i) => (allowed & bit(i)) !== 0n);
        if (index === undefined) throw new Error(`internal: required package ${pkg} has no candidate left`);
        await Promise.all(domain.releases[index].dependencies.map((d) => this.#load(d.package, d.repository)));
        this.#addDependencies(pkg, index);
        // A version that an existing fact already rules out is not decided; propagation then
        // excludes it (or finds the conflict) and the loop picks again.
        if (!this.#wouldConflict(pkg, index)) this.#decide(pkg, index);
        this.#propagate([pkg]);
      }
    } catch (err) {
      if (err instanceof SolveFailure) {
        const why = explainFailure({ domain: (p) => this.#domain(p), rootName: this.#opts.rootName }, err.incompatibility);
        throw new BeamixError(`cannot resolve dependencies:\n${why}`);
      }
      throw err;
    }
    return this.#result();
  }

  // ---- packages ----

  #load(name: string, repo: string): Promise<PackageDomain> {
    const done = this.#domains.get(name);
    if (done) return Promise.resolve(done);
    let p = this.#loading.get(name);
    if (!p) {
      p = this.#source.releases(repo, name).then((releases) => {
        const domain = new PackageDomain(name, repo, releases, this.#policy(name));
        this.#domains.set(name, domain);
        return domain;
      });
      this.#loading.set(name, p);
    }
    return p;
  }

  #policy(name: string): DomainPolicy {
    const allow = new Set(this.#opts.allowRetired ?? []);
    const policy: DomainPolicy = {
      allowPre: this.#roots.some((r) => r.name === name && r.allowPre === true),
      retiredAllowed: (version) => allow.has(name) || allow.has(`${name}@${version}`),
    };
    const locked = this.#opts.locked?.get(name);
    if (locked !== undefined) policy.locked = locked;
    return policy;
  }

  #domain(name: string): PackageDomain {
    const d = this.#domains.get(name);
    if (!d) throw new Error(`internal: package ${name} used before it was loaded`);
    return d;
  }

  #full = (name: string): bigint => this.#domain(name).full;

  // The usable releases of DEP.package that DEP accepts (0n when none or when it names
  // another repository than the one the package was read from), and why none if so.
  #dependencySet(dep: ReleaseDependency): { set: bigint; noMatch?: string } {
    const d = this.#domain(dep.package);
    if (d.repo !== dep.repository) {
      return { set: 0n, noMatch: `${dep.package} is read from repository ${d.repo}, not ${dep.repository}` };
    }
    if (!d.exists) return { set: 0n, noMatch: d.noMatchReason(dep.requirement) };
    const r = d.requirementSet(dep.requirement);
    if (!r.ok) return { set: 0n, noMatch: r.error };
    return r.set === 0n ? { set: 0n, noMatch: d.noMatchReason(dep.requirement) } : { set: r.set };
  }

  // ---- facts ----

  #add(inc: Incompatibility): void {
    if (inc.terms.length === 0) throw new SolveFailure(inc);
    for (const t of inc.terms) {
      let list = this.#incompatibilities.get(t.pkg);
      if (!list) this.#incompatibilities.set(t.pkg, (list = []));
      list.push(inc);
    }
  }

  #addRoot(root: RootRequirement): void {
    const d = this.#domain(root.name);
    const r = d.requirementSet(root.requirement);
    const set = r.ok ? r.set : 0n;
    const cause: Cause =
      set === 0n
        ? { kind: "root", pkg: root.name, requirement: root.requirement, noMatch: d.noMatchReason(root.requirement) }
        : { kind: "root", pkg: root.name, requirement: root.requirement };
    // Forbidden: the package absent, or outside the requirement.
    const inc = makeIncompatibility([{ pkg: root.name, set: d.full & ~set }], cause, this.#full);
    if (inc) this.#add(inc);
  }

  // The dependencies of PKG's release INDEX as facts. Each covers the longest run of adjacent
  // releases with the same dependency, so one conflict can rule out many releases at once.
  #addDependencies(pkg: string, index: number): void {
    const domain = this.#domain(pkg);
    const release = domain.releases[index];
    for (const dep of release.dependencies) {
      const key = `${pkg}\0${dep.package}`;
      const added = this.#dependenciesAdded.get(key) ?? 0n;
      if ((added & bit(index)) !== 0n) continue;
      const same = (i: number): boolean => {
        const other = domain.releases[i].dependencies.find((x) => x.package === dep.package);
        return (
          other !== undefined &&
          other.requirement === dep.requirement &&
          other.optional === dep.optional &&
          other.repository === dep.repository
        );
      };
      let lo = index;
      let hi = index;
      while (lo > 0 && same(lo - 1)) lo--;
      while (hi < domain.releases.length - 1 && same(hi + 1)) hi++;
      let run = 0n;
      for (let i = lo; i <= hi; i++) run |= bit(i);
      this.#dependenciesAdded.set(key, added | run);

      const target = this.#domain(dep.package);
      const { set, noMatch } = this.#dependencySet(dep);
      // Required: forbidden to be absent or outside. Optional: forbidden only to be present
      // outside the requirement.
      const depSet = dep.optional ? target.present & ~set : target.full & ~set;
      const cause: Cause = {
        kind: "dependency",
        parent: pkg,
        dep: dep.package,
        requirement: dep.requirement,
        optional: dep.optional,
        ...(noMatch !== undefined ? { noMatch } : {}),
      };
      const inc = makeIncompatibility(
        [
          { pkg, set: run },
          { pkg: dep.package, set: depSet },
        ],
        cause,
        this.#full,
      );
      if (inc) this.#add(inc);
    }
  }

  // ---- partial solution ----

  #allowed(pkg: string): bigint {
    return this.#accumulated.get(pkg) ?? this.#full(pkg);
  }

  #relation(t: Term): "satisfied" | "contradicted" | "overlapping" {
    const a = this.#allowed(t.pkg);
    if ((a & ~t.set) === 0n) return "satisfied";
    if ((a & t.set) === 0n) return "contradicted";
    return "overlapping";
  }

  #assign(a: Assignment): void {
    this.#assignments.push(a);
    this.#accumulated.set(a.pkg, this.#allowed(a.pkg) & a.set);
  }

  #decide(pkg: string, index: number): void {
    this.#level++;
    this.#decisions.set(pkg, index);
    this.#assign({ pkg, set: bit(index), level: this.#level, cause: null });
  }

  #wouldConflict(pkg: string, index: number): boolean {
    for (const inc of this.#incompatibilities.get(pkg) ?? []) {
      const own = inc.terms.find((t) => t.pkg === pkg)!;
      if ((own.set & bit(index)) === 0n) continue;
      if (inc.terms.every((t) => t.pkg === pkg || this.#relation(t) === "satisfied")) return true;
    }
    return false;
  }

  // null: nothing to conclude; "conflict": every term holds; else the one term left open.
  #almostSatisfied(inc: Incompatibility): Term | "conflict" | null {
    let open: Term | null = null;
    for (const t of inc.terms) {
      const r = this.#relation(t);
      if (r === "contradicted") return null;
      if (r === "overlapping") {
        if (open !== null) return null;
        open = t;
      }
    }
    return open ?? "conflict";
  }

  #propagate(start: string[]): void {
    const queue = [...new Set(start)];
    while (queue.length > 0) {
      const pkg = queue.shift()!;
      const list = this.#incompatibilities.get(pkg) ?? [];
      // Newest first: learned facts are the most specific.
      for (let k = list.length - 1; k >= 0; k--) {
        const inc = list[k];
        const r = this.#almostSatisfied(inc);
        if (r === null) continue;
        if (r === "conflict") {
          const learned = this.#resolveConflict(inc);
          const open = this.#almostSatisfied(learned);
          if (open === null || open === "conflict") throw new Error("internal: a learned incompatibility does not propagate after backjumping");
          this.#derive(open, learned);
          queue.length = 0;
          queue.push(open.pkg);
          break;
        }
        this.#derive(r, inc);
        if (!queue.includes(r.pkg)) queue.push(r.pkg);
      }
    }
  }

  #derive(term: Term, cause: Incompatibility): void {
    this.#assign({ pkg: term.pkg, set: this.#full(term.pkg) & ~term.set, level: this.#level, cause });
  }

  // The first assignment after which the partial solution satisfies TERM.
  #satisfier(term: Term): number {
    let a = this.#full(term.pkg);
    for (let i = 0; i < this.#assignments.length; i++) {
      const s = this.#assignments[i];
      if (s.pkg !== term.pkg) continue;
      a &= s.set;
      if ((a & ~term.set) === 0n) return i;
    }
    throw new Error(`internal: no assignment satisfies the term on ${term.pkg}`);
  }

  // PubGrub's conflict resolution: resolve the satisfied incompatibility with the causes of
  // its most recent satisfiers until it names one decision level alone, then backjump to
  // where it becomes a unit and return it (added to the facts if it is new).
  #resolveConflict(conflict: Incompatibility): Incompatibility {
    let inc = conflict;
    for (;;) {
      if (inc.terms.length === 0) throw new SolveFailure(inc);
      let recentTerm: Term | undefined;
      let recentIndex = -1;
      let previousLevel = 0;
      let difference = 0n;
      for (const term of inc.terms) {
        const index = this.#satisfier(term);
        if (recentTerm === undefined) {
          recentTerm = term;
          recentIndex = index;
        } else if (recentIndex < index) {
          previousLevel = Math.max(previousLevel, this.#assignments[recentIndex].level);
          recentTerm = term;
          recentIndex = index;
          difference = 0n;
        } else {
          previousLevel = Math.max(previousLevel, this.#assignments[index].level);
        }
        if (recentTerm === term) {
          // The satisfier may not satisfy the term alone: then what satisfies the rest
          // (the values it allows that the term does not) also counts.
          const satisfier = this.#assignments[recentIndex];
          difference = satisfier.set & ~term.set & this.#full(term.pkg);
          if (difference !== 0n) {
            const before = this.#satisfier({ pkg: term.pkg, set: this.#full(term.pkg) & ~difference });
            previousLevel = Math.max(previousLevel, this.#assignments[before].level);
          }
        }
      }
      const satisfier = this.#assignments[recentIndex];
      if (satisfier.cause === null || previousLevel < satisfier.level) {
        if (inc !== conflict) this.#add(inc);
        this.#backtrack(previousLevel);
        return inc;
      }
      const pkg = satisfier.pkg;
      const terms = [...inc.terms.filter((t) => t.pkg !== pkg), ...satisfier.cause.terms.filter((t) => t.pkg !== pkg)];
      if (difference !== 0n) terms.push({ pkg, set: this.#full(pkg) & ~difference });
      const next = makeIncompatibility(terms, { kind: "conflict", left: inc, right: satisfier.cause }, this.#full);
      if (!next) throw new Error("internal: resolution produced an incompatibility that forbids nothing");
      inc = next;
    }
  }

  #backtrack(level: number): void {
    const touched = new Set<string>();
    while (this.#assignments.length > 0 && this.#assignments[this.#assignments.length - 1].level > level) {
      const a = this.#assignments.pop()!;
      touched.add(a.pkg);
      if (a.cause === null) this.#decisions.delete(a.pkg);
    }
    for (const pkg of touched) {
      let acc = this.#full(pkg);
      for (const a of this.#assignments) if (a.pkg === pkg) acc &= a.set;
      this.#accumulated.set(pkg, acc);
    }
    this.#level = level;
  }

  // ---- choosing what to decide ----

  // Among the packages the request and the decided releases require, the undecided one with
  // the fewest releases that those requirements allow; ties go to the first name.
  #pick(): string | undefined {
    const wanted = new Map<string, { set: bigint; required: boolean }>();
    const want = (name: string, set: bigint, required: boolean): void => {
      const w = wanted.get(name);
      if (w) {
        w.set &= set;
        w.required ||= required;
      } else {
        wanted.set(name, { set: this.#domain(name).present & set, required });
      }
    };
    for (const r of this.#roots) {
      const s = this.#domain(r.name).requirementSet(r.requirement);
      want(r.name, s.ok ? s.set : 0n, true);
    }
    for (const [pkg, index] of this.#decisions) {
      for (const dep of this.#domain(pkg).releases[index].dependencies) {
        want(dep.package, this.#dependencySet(dep).set, !dep.optional);
      }
    }
    let best: { name: string; count: number } | undefined;
    for (const [name, w] of wanted) {
      if (!w.required || this.#decisions.has(name)) continue;
      const count = popcount(w.set);
      if (best === undefined || count < best.count || (count === best.count && name < best.name)) best = { name, count };
    }
    return best?.name;
  }

  // ---- the answer ----

  #result(): Map<string, ResolvedPackage> {
    const chosen = new Map<string, ReleaseInfo>();
    for (const [pkg, index] of this.#decisions) chosen.set(pkg, this.#domain(pkg).releases[index]);
    verifySolution(this.#roots, chosen);

    // Which OTP application each package is expected to be: the request says, or dependents.
    const claims = new Map<string, { app: string; by: string }[]>();
    const claim = (pkg: string, app: string, by: string): void => {
      let list = claims.get(pkg);
      if (!list) claims.set(pkg, (list = []));
      list.push({ app, by });
    };
    for (const r of this.#roots) if (r.app !== undefined) claim(r.name, r.app, "the request");
    for (const [pkg, release] of chosen) {
      for (const dep of release.dependencies) if (chosen.has(dep.package)) claim(dep.package, dep.app, `${pkg} ${release.version}`);
    }

    const packages = new Map<string, ResolvedPackage>();
    for (const pkg of [...chosen.keys()].sort()) {
      const release = chosen.get(pkg)!;
      const list = claims.get(pkg) ?? [];
      const apps = [...new Set(list.map((c) => c.app))];
      if (apps.length > 1) {
        const who = apps.map((app) => `${app} (${list.filter((c) => c.app === app).map((c) => c.by).join(", ")})`);
        throw new BeamixError(`package ${pkg} is expected to provide different OTP applications: ${who.join(" and ")}`);
      }
      packages.set(pkg, {
        name: pkg,
        version: release.version,
        app: apps[0] ?? pkg,
        repo: this.#domain(pkg).repo,
        release,
        deps: release.dependencies
          .filter((d) => chosen.has(d.package))
          .map((d) => ({ name: d.package, app: d.app, optional: d.optional })),
      });
    }
    return packages;
  }
}

// An independent check of the answer against the rules, with Elixir's requirement semantics
// applied to version strings: a failure here is a bug in the solver, never a user error.
function verifySolution(roots: RootRequirement[], chosen: Map<string, ReleaseInfo>): void {
  const fail = (why: string): never => {
    throw new Error(`internal: the resolver produced an invalid solution: ${why}`);
  };
  const required = new Set<string>();
  for (const r of roots) {
    const got = chosen.get(r.name);
    if (!got) fail(`requested ${r.name} is missing`);
    else if (r.requirement !== undefined && !matches(got.version, r.requirement)) fail(`${r.name} ${got.version} does not match ${r.requirement}`);
    required.add(r.name);
  }
  for (const [pkg, release] of chosen) {
    for (const dep of release.dependencies) {
      const got = chosen.get(dep.package);
      if (!got) {
        if (!dep.optional) fail(`${pkg} ${release.version} needs ${dep.package}, which is missing`);
        continue;
      }
      if (!matches(got.version, dep.requirement)) fail(`${pkg} ${release.version} needs ${dep.package} ${dep.requirement}, got ${got.version}`);
      if (!dep.optional) required.add(dep.package);
    }
  }
  for (const pkg of chosen.keys()) if (!required.has(pkg)) fail(`${pkg} is in the closure but nothing requires it`);
}
