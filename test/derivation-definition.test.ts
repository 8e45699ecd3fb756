import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { BeamixError } from "../src/errors.ts";
import { atom, bin, list, tuple } from "../src/erlang/term.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";
import { definitionFromHexRelease } from "../src/derivation/definition-from-hex.ts";
import { validateDefinition } from "../src/derivation/definition-validate.ts";
import { buildSystemOfHexRelease as chooseBuildSystem } from "../src/build-system/registry.ts";

const SHA = "ab".repeat(32);

const minimal = () => ({
  name: "plug",
  version: "1.15.3",
  source: { type: "hex", innerChecksum: SHA.toUpperCase() },
  buildSystem: "mix",
});

test("a minimal definition gets every default", () => {
  const d = validateDefinition(minimal());
  assert.deepEqual(d, {
    name: "plug",
    version: "1.15.3",
    app: "plug",
    source: { type: "hex", repo: "hexpm", innerChecksum: SHA }, // lowercased
    buildSystem: "mix",
    inputs: [],
    nativeInputs: [],
    arguments: { mixEnv: "prod", compileConfig: {}, env: {}, check: false, phases: [], patches: [] },
  });
});

test("a full definition is read as given, and validation is idempotent", () => {
  const text = "--- a/x\n+++ b/x\n";
  const x = {
    name: "vec_alias",
    version: "0.2.0",
    app: "vec_aliased",
    source: { type: "hex", repo: "vectors", url: "http://127.0.0.1:8765/tarballs/vec_alias-0.2.0.tar", innerChecksum: SHA, outerChecksum: "cd".repeat(32) },
    buildSystem: "mix",
    inputs: ["vec_erl", { name: "vec_opt", optional: true }, { name: "jason", repo: "hexpm", app: "jason" }],
    nativeInputs: ["make", "gcc"],
    arguments: {
      mixEnv: "prod",
      compileConfig: { vec_aliased: { mode: { atom: "fast" }, opts: { keyword: [["level", 2]] } } },
      env: { CC: "gcc" },
      check: true,
      phases: [
        { op: "add", name: "gen", before: "compile", shell: "make gen" },
        { op: "replace", name: "install", run: ["sh", "install.sh"] },
        { op: "remove", name: "validate-apps" },
      ],
      patches: [{ text }, { file: "fix.patch", sha256: SHA, strip: 0 }],
    },
  };
  const d = validateDefinition(x, "defs/vec_alias.json");
  assert.equal(d.app, "vec_aliased");
  assert.deepEqual(d.inputs, [
    { name: "vec_erl", app: "vec_erl", optional: false, repo: "vectors" }, // the package's own repository by default
    { name: "vec_opt", app: "vec_opt", optional: true, repo: "vectors" },
    { name: "jason", app: "jason", optional: false, repo: "hexpm" },
  ]);
  assert.deepEqual(d.arguments.compileConfig.vec_aliased.mode, atom("fast"));
  assert.deepEqual(d.arguments.compileConfig.vec_aliased.opts, list([tuple([atom("level"), { type: "integer", value: 2n }])]));
  assert.deepEqual(d.arguments.patches, [
    { sha256: createHash("sha256").update(text).digest("hex"), strip: 1, text },
    { sha256: SHA, strip: 0, file: "fix.patch" },
  ]);
  assert.deepEqual(d.arguments.phases[0], { op: "add", name: "gen", before: "compile", shell: "make gen" });
  assert.deepEqual(validateDefinition(d), d);
  // Terms built by code are accepted as they are
  const withTerm = validateDefinition({ ...minimal(), arguments: { compileConfig: { plug: { mimes: bin("x") } } } });
  assert.deepEqual(withTerm.arguments.compileConfig.plug.mimes, bin("x"));
});

function problems(x: unknown, file?: string): string {
  try {
    validateDefinition(x, file);
  } catch (err) {
    assert.ok(err instanceof BeamixError);
    assert.ok(!err.message.includes("\n"), "one line");
    return err.message;
  }
  assert.fail("expected the definition to be refused");
}

test("every problem is reported, each with the file and the field's path", () => {
  const msg = problems(
    {
      name: "Plug",
      version: "1.0",
      source: { type: "hex", innerChecksum: "xyz" },
      buildSystem: "cmake",
      inputs: ["ok_dep", "ok_dep", 3],
      arguments: {
        mixEnv: "Prod",
        env: { MIX_ENV: "dev", "1BAD": "x", GOOD: 1 },
        phases: [{ op: "add", name: "x", before: "a", after: "b", run: ["make"] }, { op: "replace", name: "y" }, { op: "rename", name: "z" }],
        patches: [{ file: "p.patch" }, { text: "t", sha256: SHA }],
        compileConfig: { plug: { k: { weird: 1 } } },
        flags: true,
      },
      buildsystem: "mix",
    },
    "defs/plug.json",
  );
  const expected = [
    /^defs\/plug\.json: /,
    /buildsystem: unknown field/,
    /name: "Plug" is not a valid Hex package name/,
    /version: "1\.0" is not a valid version/,
    /source\.innerChecksum: "xyz" is not a SHA-256 in hex/,
    /buildSystem: must be one of mix, rebar3, make, got "cmake"/,
    /inputs\[1\]: ok_dep is listed twice/,
    /inputs\[2\]: must be a package name/,
    /arguments\.flags: unknown field/,
    /arguments\.mixEnv: "Prod" is not a Mix environment name/,
    /arguments\.compileConfig\.plug\.k: unknown tag "weird"/,
    /arguments\.env\.MIX_ENV: is set by the build system; use arguments\.mixEnv/,
    /arguments\.env\.1BAD: is not a valid environment variable name/,
    /arguments\.env\.GOOD: must be a string/,
    /arguments\.phases\[0\]: give before or after, not both/,
    /arguments\.phases\[1\]: needs exactly one of run/,
    /arguments\.phases\[2\]\.op: must be "add", "replace" or "remove", got "rename"/,
    /arguments\.patches\[0\]\.sha256: missing/,
    /arguments\.patches\[1\]\.sha256: does not match the text/,
  ];
  for (const re of expected) assert.match(msg, re);
});

test("sources: dir and git need their content identity", () => {
  assert.deepEqual(validateDefinition({ ...minimal(), source: { type: "dir", path: "../plug", treeHash: SHA } }).source, { type: "dir", path: "../plug", treeHash: SHA });
  const commit = "0123456789abcdef0123456789abcdef01234567";
  assert.deepEqual(validateDefinition({ ...minimal(), source: { type: "git", url: "https://example.org/plug.git", commit: commit.toUpperCase() } }).source, {
    type: "git",
    url: "https://example.org/plug.git",
    commit,
  });
  assert.match(problems({ ...minimal(), source: { type: "git", url: "u", commit: "main" } }), /source\.commit: "main" is not a full commit id/);
  assert.match(problems({ ...minimal(), source: { type: "dir", path: "x" } }), /source\.treeHash: missing/);
  assert.match(problems({ ...minimal(), source: { type: "svn" } }), /source\.type: must be "hex", "dir" or "git"/);
  assert.match(problems({ ...minimal(), inputs: ["plug"] }), /plug cannot depend on itself/);
  assert.match(problems([1]), /^definition: a definition must be an object$/);
  assert.match(problems({ ...minimal(), buildSystem: undefined }), /^definition of plug 1\.15\.3: buildSystem: missing$/);
});

test("build system choice: mix, then rebar3, then make; files when build_tools is empty", () => {
  assert.equal(chooseBuildSystem(["rebar3", "mix"]), "mix");
  assert.equal(chooseBuildSystem(["make", "rebar3"]), "rebar3");
  assert.equal(chooseBuildSystem(["rebar"]), "rebar3");
  assert.equal(chooseBuildSystem(["make"]), "make");
  assert.equal(chooseBuildSystem(["erlang.mk"]), "make");
  assert.equal(chooseBuildSystem([], ["src/x.erl", "rebar.config"]), "rebar3");
  assert.equal(chooseBuildSystem([], ["Makefile", "erlang.mk", "src/x.erl"]), "make");
  assert.equal(chooseBuildSystem([], ["lib/x.ex", "mix.exs"]), "mix");
  assert.equal(chooseBuildSystem([], ["src/x.erl"]), undefined);
});

const VEC_CORE: HexMetadata = {
  name: "vec_core",
  version: "0.3.0",
  app: "vec_core",
  description: "vector core",
  files: ["lib", "lib/vec_core.ex", "mix.exs"],
  licenses: ["Apache-2.0"],
  buildTools: ["mix"],
  requirements: [
    { name: "vec_erl", app: "vec_erl", requirement: "~> 1.0", optional: false, repository: "vectors" },
    { name: "vec_opt", app: "vec_opt", requirement: "~> 0.1", optional: true, repository: "vectors" },
  ],
  links: [],
  other: [],
};

test("definitionFromHexRelease derives source, build system and inputs", () => {
  // The real vectors' checksums for vec_core 0.3.0, as the registry and the tarball give them.
  const sums = readFileSync(new URL("./vectors/hex/tarballs/checksums.txt", import.meta.url), "utf8");
  const m = /^vec_core-0\.3\.0\.tar \d+ outer ([0-9a-f]{64}) inner ([0-9a-f]{64})$/m.exec(sums);
  assert.ok(m, "checksums.txt lists vec_core-0.3.0.tar");
  const [, outer, innerHex] = m;
  const inner = Buffer.from(innerHex, "hex"); // the registry decodes checksums as bytes
  const d = definitionFromHexRelease(VEC_CORE, { repo: "vectors", innerChecksum: inner, outerChecksum: outer.toUpperCase() });
  assert.deepEqual(d.source, { type: "hex", repo: "vectors", innerChecksum: inner.toString("hex"), outerChecksum: outer });
  assert.equal(d.buildSystem, "mix");
  assert.deepEqual(d.inputs, [
    { name: "vec_erl", app: "vec_erl", optional: false, repo: "vectors" },
    { name: "vec_opt", app: "vec_opt", optional: true, repo: "vectors" },
  ]);
  assert.equal(d.arguments.mixEnv, "prod");

  // the registry's dependency list wins (it knows each dependency's repository)
  const fromRegistry = definitionFromHexRelease(VEC_CORE, {
    repo: "vectors",
    innerChecksum: SHA,
    dependencies: [{ package: "vec_erl", app: "vec_erl", optional: false, repository: "hexpm" }],
  });
  assert.deepEqual(fromRegistry.inputs, [{ name: "vec_erl", app: "vec_erl", optional: false, repo: "hexpm" }]);

  const erlangMk = definitionFromHexRelease({ ...VEC_CORE, name: "ranch", app: "ranch", version: "1.8.0", buildTools: ["make", "rebar3"], requirements: [] }, { repo: "hexpm", innerChecksum: SHA });
  assert.equal(erlangMk.buildSystem, "rebar3");
  assert.throws(
    () => definitionFromHexRelease({ ...VEC_CORE, buildTools: [], files: ["src/x.erl"] }, { repo: "hexpm", innerChecksum: SHA }),
    /vec_core 0\.3\.0: cannot tell how to build it/,
  );
  assert.throws(() => definitionFromHexRelease({ ...VEC_CORE, app: "Bad-App" }, { repo: "hexpm", innerChecksum: SHA }), /Hex metadata of vec_core 0\.3\.0: app: "Bad-App"/);
});
