// The layers of src/, lowest first. A folder imports only folders of lower layers (never one
// above it, never a sibling of its own layer), so the design reads bottom-up and no two folders
// depend on each other. `npm test` runs this check; docs/ARCHITECTURE.md explains each layer.
const LAYERS = [
  ["util", "erlang", "signing", "build-system"], // bytes, Erlang terms, signatures, build-system facts
  ["elixir"], //                               Elixir's versions, requirements and literal data
  ["config", "hex"], //                        where things live and who is trusted; Hex's formats
  ["toolchain", "repos", "native"], //         the Erlang/Elixir/rebar3 in use; configured Hex repositories; host libraries and ELF facts
  ["derivation", "resolve"], //                what a package build is; which versions a closure takes
  ["store", "mix"], //                         the content-addressed store; mix.lock
  ["sandbox"], //                              isolated processes
  ["project", "builder"], //                   reading a package directory; building one package
  ["substitute"], //                           binary caches: formats, backends, client, server
  ["realize"], //                              plan → substitute or build, in dependency order
  ["inspect"], //                              closure queries: sizes, graphs, why-depends, weather
  ["view"], //                                 self-contained HTML pages
  ["deps", "profile", "import"], //            what the commands do
  ["cli"], //                                  argument parsing and printing only
];

const known = LAYERS.flat();
const rules = LAYERS.flatMap((layer, i) => {
  const allowed = LAYERS.slice(0, i).flat();
  return layer.map((folder) => ({
    name: `${folder}-imports-downward`,
    comment: `src/${folder}/ may import only ${allowed.length ? allowed.join(", ") : "nothing else in src/ but src/errors.ts"}`,
    severity: "error",
    from: { path: `^src/${folder}/` },
    to: { path: "^src/[^/]+/", pathNot: [`^src/${folder}/`, ...allowed.map((f) => `^src/${f}/`)] },
  }));
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...rules,
    {
      name: "folder-in-a-layer",
      comment: "every folder of src/ is placed in LAYERS (.dependency-cruiser.cjs)",
      severity: "error",
      from: { path: "^src/[^/]+/", pathNot: known.map((f) => `^src/${f}/`) },
      to: {},
    },
    {
      name: "no-circular",
      comment: "no module depends on itself through others (a cycle closed by `import type` alone is allowed)",
      severity: "error",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API; swc parses the sources.
    parser: "swc",
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/.*\\.d\\.ts$" },
  },
};
