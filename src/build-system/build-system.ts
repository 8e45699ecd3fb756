// What beamix knows about one build system (mix, rebar3, make), as plain data and pure
// functions, in one place per build system. Guix keeps a pair of files per build system: the
// host side (which inputs, how the derivation is made) and the build side (the phases). This is
// the host side; the phases are src/builder/recipes/<name>.ts. Adding a build system means a
// file here, one there, and an entry in each registry (TypeScript points at every place that
// still lacks one).

// Which files a directory or package has, asked by glob pattern relative to its top.
export type HasFile = (pattern: string) => boolean | Promise<boolean>;

export interface BuildSystemModule<Name extends string = string> {
  readonly name: Name;
  // Part of every derivation's identity. Bump it whenever the phases change in a way that can
  // change outputs (flags, environment, install layout), so older items get a new hash.
  readonly phasesVersion: number;
  // The toolchain tools the phases run; their versions enter the hash.
  readonly tools: readonly ("elixir" | "rebar3")[];
  // Mix's `manager:` atoms (in mix.exs and mix.lock) that mean this build system.
  readonly mixManagers: readonly string[];

  // Detection, one rule per consumer, kept side by side:
  // - Hex metadata's `build_tools` of a release names this build system (Mix's reading of it);
  readonly namedByHexBuildTools: (buildTools: ReadonlySet<string>) => boolean;
  // - a package's top-level files say so: Mix's guess for a dependency without a manager (git
  //   and path dependencies, old Hex releases without build_tools);
  readonly guessedByMix: (topLevelFiles: ReadonlySet<string>) => boolean;
  // - how strongly a project directory looks like this build system when it is packed for Hex
  //   (`beamix hex pack`; 0: not at all). The strongest evidence wins.
  readonly packingEvidence: (has: HasFile) => Promise<number>;

  // What `beamix deps` does beyond copying an item for a dependency built this way.
  readonly deps: {
    // Mix reads a mix.rebar.config for rebar3 dependencies: ask Mix for it.
    readonly needsMixRebarConfig: boolean;
    // Paths under deps/APP that Mix's own build rewrites in place (build output, not source).
    readonly builtInPlace?: (path: string) => boolean;
  };
}
