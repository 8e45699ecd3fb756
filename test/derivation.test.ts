import { test } from "node:test";
import assert from "node:assert/strict";
import { atom, int, list, tuple, type Term } from "../src/erlang/term.ts";
import { BeamixError } from "../src/errors.ts";
import { canonicalJson } from "../src/derivation/canonical.ts";
import { type Definition } from "../src/derivation/definition.ts";
import { validateDefinition } from "../src/derivation/definition-validate.ts";
import {
  createDerivation,
  derivationHash,
  derivationIdentity,
  effectiveCompileConfig,
  toolchainSummary,
  type DerivationOptions,
  type ToolchainFacts,
} from "../src/derivation/derivation.ts";
import { mix } from "../src/build-system/mix.ts";
import type { Toolchain } from "../src/toolchain/detect.ts";

const H = (c: string) => c.repeat(64);

const TOOLCHAIN: ToolchainFacts = {
  otpRelease: "25",
  otpVersion: "25.2.3",
  ertsVersion: "13.1.5",
  nifVersion: "2.16",
  targetTriple: "x86_64-pc-linux-gnu",
  elixirVersion: "1.14.0",
  rebar3Version: "3.19.0",
};

const PLUG = {
  name: "plug",
  version: "1.15.3",
  app: "plug",
  source: { type: "hex", repo: "hexpm", innerChecksum: H("1"), outerChecksum: H("2") },
  buildSystem: "mix",
  inputs: ["mime", "plug_crypto", "telemetry", { name: "jason", optional: true }],
  nativeInputs: [],
  arguments: { env: { PLUG_FLAG: "1" }, compileConfig: { plug: { statuses: { map: [[418, "teapot"]] } } } },
};

const INPUTS = { mime: H("a"), plug_crypto: H("b"), telemetry: H("c") };

function opts(overrides: Partial<DerivationOptions> = {}, def: unknown = PLUG): DerivationOptions {
  return { definition: validateDefinition(def), toolchain: TOOLCHAIN, inputs: INPUTS, ...overrides };
}

const hashOf = (o: DerivationOptions) => derivationHash(createDerivation(o));
const BASE = hashOf(opts());

// A deep copy of PLUG with one change made by `edit`.
function edited(edit: (d: any) => void): unknown {
  const d = structuredClone(PLUG) as any;
  edit(d);
  return d;
}

test("the hash is 64 lowercase hex digits and stable", () => {
  assert.match(BASE, /^[0-9a-f]{64}$/);
  assert.equal(hashOf(opts()), BASE);
});

test("every field that can change the output changes the hash", () => {
  const variants: [string, DerivationOptions][] = [
    ["name", opts({}, edited((d) => (d.name = "plug2")))],
    ["version", opts({}, edited((d) => (d.version = "1.15.4")))],
    ["app", opts({}, edited((d) => (d.app = "plug_app")))],
    ["inner checksum", opts({}, edited((d) => (d.source.innerChecksum = H("3"))))],
    ["source type", opts({}, edited((d) => (d.source = { type: "dir", path: "/src/plug", treeHash: H("1") })))],
    ["git commit", opts({}, edited((d) => (d.source = { type: "git", url: "u", commit: "1".repeat(40) })))],
    ["build system", opts({}, edited((d) => (d.buildSystem = "rebar3")))],
    ["declared input made optional", opts({}, edited((d) => (d.inputs[0] = { name: "mime", optional: true })))],
    ["declared input app", opts({}, edited((d) => (d.inputs[0] = { name: "mime", app: "mime2" })))],
    ["native input", opts({}, edited((d) => (d.nativeInputs = ["make"])))],
    ["MIX_ENV", opts({}, edited((d) => (d.arguments.mixEnv = "dev")))],
    ["check flag", opts({}, edited((d) => (d.arguments.check = true)))],
    ["definition env value", opts({}, edited((d) => (d.arguments.env.PLUG_FLAG = "2")))],
    ["definition env name", opts({}, edited((d) => (d.arguments.env = { PLUG_FLAG2: "1" })))],
    ["extra env", opts({ env: { CFLAGS: "-O2" } })],
    ["compile config value", opts({}, edited((d) => (d.arguments.compileConfig.plug.statuses.map[0][1] = "tea pot")))],
    ["project config", opts({ projectConfig: { plug: { mimes: list([]) } } })],
    ["phase override", opts({}, edited((d) => (d.arguments.phases = [{ op: "remove", name: "validate" }])))],
    ["patch", opts({}, edited((d) => (d.arguments.patches = [{ text: "diff" }])))],
    ["patch strip", opts({}, edited((d) => (d.arguments.patches = [{ text: "diff", strip: 0 }])))],
    ["OTP release", opts({ toolchain: { ...TOOLCHAIN, otpRelease: "26" } })],
    ["OTP version", opts({ toolchain: { ...TOOLCHAIN, otpVersion: "25.2.4" } })],
    ["ERTS version", opts({ toolchain: { ...TOOLCHAIN, ertsVersion: "13.1.6" } })],
    ["NIF version", opts({ toolchain: { ...TOOLCHAIN, nifVersion: "2.17" } })],
    ["target triple", opts({ toolchain: { ...TOOLCHAIN, targetTriple: "aarch64-unknown-linux-gnu" } })],
    ["Elixir version (mix package)", opts({ toolchain: { ...TOOLCHAIN, elixirVersion: "1.15.0" } })],
    ["an input's hash", opts({ inputs: { ...INPUTS, telemetry: H("d") } })],
    ["an optional input present in the closure", opts({ inputs: { ...INPUTS, jason: H("e") } })],
  ];
  const seen = new Map<string, string>([[BASE, "base"]]);
  for (const [what, o] of variants) {
    const h = hashOf(o);
    assert.ok(!seen.has(h), `changing ${what} gives the same hash as ${seen.get(h)}`);
    seen.set(h, what);
  }
  // the phases version is a constant: changing it must change the hash too
  const d = createDerivation(opts());
  assert.equal(d.phasesVersion, mix.phasesVersion);
  assert.notEqual(derivationHash({ ...d, phasesVersion: d.phasesVersion + 1 }), BASE);
});

test("things that cannot change the output do not change the hash", () => {
  const reorderedKeys = {
    nativeInputs: [],
    arguments: { compileConfig: PLUG.arguments.compileConfig, env: PLUG.arguments.env },
    buildSystem: "mix",
    inputs: [{ name: "jason", optional: true }, "telemetry", "plug_crypto", "mime"], // list order
    source: { outerChecksum: H("2"), innerChecksum: H("1"), repo: "hexpm", type: "hex" },
    app: "plug",
    version: "1.15.3",
    name: "plug",
  };
  const same: [string, DerivationOptions][] = [
    ["key order and input list order", opts({}, reorderedKeys)],
    ["input map order", opts({ inputs: { telemetry: H("c"), mime: H("a"), plug_crypto: H("b") } })],
    ["inputs as a Map", opts({ inputs: new Map(Object.entries(INPUTS)) })],
    ["repository name and mirror URL", opts({}, edited((d) => Object.assign(d.source, { repo: "mirror", url: "https://mirror.example/tarballs/plug-1.15.3.tar" })))],
    ["outer checksum (packaging only; the content is the inner checksum)", opts({}, edited((d) => (d.source.outerChecksum = H("9"))))],
    ["rebar3 version (not used by mix builds)", opts({ toolchain: { ...TOOLCHAIN, rebar3Version: "3.22.0" } })],
    ["explicit defaults", opts({}, edited((d) => Object.assign(d.arguments, { mixEnv: "prod", check: false, phases: [], patches: [] })))],
    ["unrelated project config", opts({ projectConfig: { logger: { level: atom("info") } } })],
    // build, install and deps see one build: an optional dependency the closure lacks is not an input
    ["an optional input absent from the closure, declared or not", opts({}, edited((d) => (d.inputs = d.inputs.filter((i: unknown) => typeof i === "string"))))],
    ["project config equal to the definition's", opts({ projectConfig: { plug: { statuses: { type: "map", entries: [[int(418), { type: "binary", value: Buffer.from("teapot") }]] } } } })],
  ];
  for (const [what, o] of same) assert.equal(hashOf(o), BASE, what);

  // A full detected toolchain hashes like its facts: install paths, word size, binds do not count.
  const detected: Toolchain = {
    ...TOOLCHAIN,
    wordSize: 8,
    paths: {
      erlRoot: "/opt/otp-25.2.3",
      erl: "/opt/otp-25.2.3/bin/erl",
      erlc: "/opt/otp-25.2.3/bin/erlc",
      escript: "/opt/otp-25.2.3/bin/escript",
      ertsInclude: null,
      elixirRoot: "/opt/elixir",
      elixir: "/opt/elixir/bin/elixir",
      mix: "/opt/elixir/bin/mix",
      rebar3: "/home/u/bin/rebar3",
    },
    binDirs: ["/opt/otp-25.2.3/bin"],
    readOnlyBinds: ["/opt/otp-25.2.3", "/opt/elixir"],
  };
  assert.equal(hashOf(opts({ toolchain: detected })), BASE);
  const moved: Toolchain = { ...detected, paths: { ...detected.paths, erlRoot: "/usr/lib/erlang" }, readOnlyBinds: [] };
  assert.equal(hashOf(opts({ toolchain: moved })), BASE);

  // Nothing time- or path-dependent is in the identity at all.
  const text = canonicalJson(derivationIdentity(createDerivation(opts({ toolchain: detected }))));
  assert.ok(!text.includes("/opt") && !text.includes("mirror") && !text.includes("hexpm"), text);
});

test("the toolchain summary keeps only the tools the build uses", () => {
  const def = (buildSystem: string, nativeInputs: string[] = []) =>
    validateDefinition({ name: "x", version: "1.0.0", source: { type: "hex", innerChecksum: H("1") }, buildSystem, nativeInputs });
  assert.equal(toolchainSummary(TOOLCHAIN, def("mix")).elixirVersion, "1.14.0");
  assert.equal(toolchainSummary(TOOLCHAIN, def("mix")).rebar3Version, undefined);
  assert.equal(toolchainSummary(TOOLCHAIN, def("rebar3")).rebar3Version, "3.19.0");
  assert.equal(toolchainSummary(TOOLCHAIN, def("rebar3")).elixirVersion, undefined);
  assert.deepEqual(Object.keys(toolchainSummary(TOOLCHAIN, def("make"))).sort(), ["ertsVersion", "nifVersion", "otpRelease", "otpVersion", "targetTriple"]);
  assert.equal(toolchainSummary(TOOLCHAIN, def("make", ["rebar3", "gcc"])).rebar3Version, "3.19.0");
  assert.throws(() => toolchainSummary({ ...TOOLCHAIN, elixirVersion: null }, def("mix")), /x 1\.0\.0 needs Elixir to build, but the toolchain has none/);

  // so an Erlang package keeps its hash across Elixir upgrades, and a mix one does not
  const erl = { ...PLUG, name: "telemetry", app: "telemetry", buildSystem: "rebar3", inputs: [], arguments: {} };
  const a = hashOf({ definition: validateDefinition(erl), toolchain: TOOLCHAIN, inputs: {} });
  const b = hashOf({ definition: validateDefinition(erl), toolchain: { ...TOOLCHAIN, elixirVersion: "1.17.3" }, inputs: {} });
  assert.equal(a, b);
});

test("effective compile config: the package's own apps, project config merged on top", () => {
  const def = validateDefinition(edited((d) => (d.arguments.compileConfig = { plug: { a: 1, k: { keyword: [["x", 1], ["y", 2]] } }, mime: { types: 1 } })));
  const project = { plug: { k: list([tuple([atom("y"), int(3)])]) as Term }, logger: { level: atom("debug") }, mime: {} };
  const eff = effectiveCompileConfig(def, project);
  assert.deepEqual(Object.keys(eff).sort(), ["mime", "plug"]);
  assert.deepEqual(eff.plug.a, int(1));
  assert.deepEqual(eff.plug.k, list([tuple([atom("x"), int(1)]), tuple([atom("y"), int(3)])]));
  assert.deepEqual(Object.keys(effectiveCompileConfig(def, project, ["logger"])).sort(), ["logger", "mime", "plug"]);
  const bare = validateDefinition(edited((d) => (d.arguments.compileConfig = {})));
  assert.deepEqual(effectiveCompileConfig(bare, { plug: {} }), {}); // an app with no keys is no config
});

test("inputs must match the definition", () => {
  const err = (o: DerivationOptions, re: RegExp) =>
    assert.throws(() => createDerivation(o), (e: unknown) => e instanceof BeamixError && re.test(e.message));
  err(opts({ inputs: { mime: H("a"), plug_crypto: H("b") } }), /plug 1\.15\.3: no derivation given for its input telemetry/);
  err(opts({ inputs: { ...INPUTS, cowboy: H("f") } }), /cowboy given as inputs but not declared/);
  err(opts({ inputs: { ...INPUTS, mime: "A".repeat(64) } }), /hash given for mime is not 64 lowercase hex/);
  err(opts({ env: { MIX_ENV: "dev" } }), /cannot set environment variable "MIX_ENV"/);
  const d = createDerivation(opts({ inputs: { ...INPUTS, jason: H("e") }, env: { PLUG_FLAG: "override", CC: "cc" } }));
  assert.deepEqual(d.inputs, { ...INPUTS, jason: H("e") });
  assert.deepEqual(d.env, { PLUG_FLAG: "override", CC: "cc" });
});

test("createDerivation re-validates a definition built by code", () => {
  const bad = { ...validateDefinition(PLUG), name: "Bad Name" } as Definition;
  assert.throws(() => createDerivation({ definition: bad, toolchain: TOOLCHAIN, inputs: INPUTS }), /name: "Bad Name" is not a valid Hex package name/);
});

// Pinned on purpose: every store item and cache entry is named by this encoding, so changing
// it silently would orphan them all. A deliberate change bumps "format" and updates this test.
test("the identity encoding is pinned", () => {
  const d = createDerivation({
    definition: validateDefinition({
      name: "vec_erl",
      version: "1.0.0",
      source: { type: "hex", repo: "vectors", innerChecksum: "99b7d5e1f814801b6b2a37a9ee22cffb7efd4d6e53d324e115d79b01ab16c3c6" },
      buildSystem: "rebar3",
    }),
    toolchain: TOOLCHAIN,
    inputs: {},
  });
  assert.equal(
    canonicalJson(derivationIdentity(d)),
    '{"app":"vec_erl","buildSystem":"rebar3","check":false,"compileConfig":{},"declaredInputs":[],"definitionConfig":{},"env":{},"format":"beamix-derivation/2",' +
      '"inputs":{},"mixEnv":"prod","name":"vec_erl","nativeInputs":[],"patches":[],"phases":[],"phasesVersion":1,' +
      '"source":{"innerChecksum":"99b7d5e1f814801b6b2a37a9ee22cffb7efd4d6e53d324e115d79b01ab16c3c6","type":"hex"},' +
      '"toolchain":{"ertsVersion":"13.1.5","nifVersion":"2.16","otpRelease":"25","otpVersion":"25.2.3","rebar3Version":"3.19.0","targetTriple":"x86_64-pc-linux-gnu"},' +
      '"version":"1.0.0"}',
  );
  // = sha256sum of that text
  assert.equal(derivationHash(d), "17001a9edadde5def207fd088fbaeaaaf1006a72591f61293f39d94c1667a857");
});
