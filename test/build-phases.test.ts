// The phase lists of the three build systems, the definition's phase overrides, and the
// small pieces the builder is made of (environment, quoting, failure reasons).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reasonLine } from "../src/builder/build-package.ts";
import { buildEnvironment, environmentFileText, shellQuote } from "../src/builder/environment.ts";
import { buildLayout } from "../src/builder/layout.ts";
import { applyOverrides, standardPhases, type Phase, type RecipeContext } from "../src/builder/phases.ts";
import { makeRecipe } from "../src/builder/recipes/make.ts";
import { mixRecipe } from "../src/builder/recipes/mix.ts";
import { rebar3Recipe } from "../src/builder/recipes/rebar3.ts";
import type { PhaseOverride } from "../src/derivation/definition.ts";
import { BeamixError } from "../src/errors.ts";
import type { Toolchain } from "../src/toolchain/detect.ts";

const toolchain = (elixirVersion: string | null = "1.14.0"): Toolchain => ({
  otpRelease: "25",
  otpVersion: "25.2.3",
  ertsVersion: "13.1.5",
  nifVersion: "2.16",
  targetTriple: "x86_64-pc-linux-gnu",
  wordSize: 8,
  elixirVersion,
  rebar3Version: "3.19.0",
  paths: {
    erlRoot: "/opt/otp",
    erl: "/opt/otp/bin/erl",
    erlc: "/opt/otp/bin/erlc",
    escript: "/opt/otp/bin/escript",
    ertsInclude: "/opt/otp/erts-13.1.5/include",
    elixirRoot: elixirVersion ? "/opt/elixir" : null,
    elixir: elixirVersion ? "/opt/elixir/bin/elixir" : null,
    mix: elixirVersion ? "/opt/elixir/bin/mix" : null,
    rebar3: "/opt/rebar3/rebar3",
  },
  binDirs: ["/opt/otp/bin", "/opt/elixir/bin", "/opt/rebar3"],
  readOnlyBinds: ["/opt/otp", "/opt/elixir", "/opt/rebar3/rebar3"],
});

const layout = buildLayout("/build", "demo", "1.0.0");
const ctx = (over: Partial<RecipeContext> = {}): RecipeContext => ({
  app: "demo",
  version: "1.0.0",
  mixEnv: "prod",
  check: false,
  layout,
  inputs: [
    { app: "alpha", version: "1.2.0", libDir: "/inputs/alpha-1.2.0", direct: true },
    { app: "beta", version: "0.1.0", libDir: "/inputs/beta-0.1.0", direct: false },
  ],
  toolchain: toolchain(),
  ...over,
});

const names = (ps: Phase[]) => ps.map((p) => p.name);
const commands = (ps: Phase[], name: string) => {
  const p = ps.find((x) => x.name === name);
  assert.ok(p && p.kind === "sandbox", `${name} is a sandbox phase`);
  return p.commands;
};

test("the standard phases, in order; check is present but skipped unless asked for", () => {
  const ps = standardPhases(makeRecipe(ctx()), [], false, layout);
  assert.deepEqual(names(ps), ["unpack", "patch", "configure", "build", "check", "install", "validate"]);
  assert.equal(ps[0].kind, "host");
  assert.equal(ps[6].kind, "host");
  const checkPhase = ps[4];
  assert.ok(checkPhase.kind === "sandbox" && checkPhase.skipped === "arguments.check is false");
  const withCheck = standardPhases(makeRecipe(ctx()), [], true, layout)[4];
  assert.ok(withCheck.kind === "sandbox" && withCheck.skipped === undefined);
  // The install phase copies (dereferencing) into out/lib/erlang/lib/<app>-<version>.
  const install = commands(ps, "install")[0];
  assert.match(install.argv[3], /cp -RL "\$from\/\$sub" \/build\/out\/lib\/erlang\/lib\/demo-1\.0\.0\/\$sub/);
});

test("patches become patch -pN commands over files beamix writes into the build directory", () => {
  const ps = standardPhases(makeRecipe(ctx()), [{ sha256: "a".repeat(64), strip: 1, text: "x" }, { sha256: "b".repeat(64), strip: 0, file: "p.diff" }], false, layout);
  assert.deepEqual(
    commands(ps, "patch").map((c) => c.argv),
    [
      ["patch", "-p1", "--batch", "--no-backup-if-mismatch", "-i", "/build/beamix/patches/001.patch"],
      ["patch", "-p0", "--batch", "--no-backup-if-mismatch", "-i", "/build/beamix/patches/002.patch"],
    ],
  );
});

test("mix: the stand-in, --no-deps-check, no protocol consolidation, warnings not errors, config replaced, inputs linked into _build; prune flag from 1.15", () => {
  const r = mixRecipe(ctx());
  assert.deepEqual(r.build[0].argv, ["/opt/elixir/bin/elixir", "-r", "/build/beamix/hex_scm_standin.exs", "-S", "mix", "compile", "--no-deps-check", "--no-protocol-consolidation", "--no-warnings-as-errors"]);
  const script = r.configure[0].argv[3];
  assert.match(script, /^rm -rf config _build deps$/m);
  assert.match(script, /^cp \/build\/beamix\/config\.exs config\/config\.exs$/m);
  assert.match(script, /^ln -s \/inputs\/alpha-1\.2\.0 _build\/prod\/lib\/alpha$/m);
  assert.match(script, /^ln -s \/inputs\/beta-0\.1\.0 _build\/prod\/lib\/beta$/m);
  assert.doesNotMatch(script, /_build\/test/);
  assert.deepEqual(r.installFrom, ["_build/prod/lib/demo", "_build/shared/lib/demo"]);

  const checked = mixRecipe(ctx({ check: true }));
  assert.match(checked.configure[0].argv[3], /^ln -s \/inputs\/alpha-1\.2\.0 _build\/test\/lib\/alpha$/m);
  assert.deepEqual(checked.check[0].env, { MIX_ENV: "test" });
  assert.deepEqual(checked.check[0].argv.slice(4), ["mix", "test", "--no-deps-check"]);

  const newer = mixRecipe(ctx({ toolchain: toolchain("1.15.7") }));
  assert.deepEqual(newer.build[0].argv.slice(-4), ["--no-deps-check", "--no-protocol-consolidation", "--no-warnings-as-errors", "--no-prune-code-paths"]);
  assert.deepEqual(newer.check[0].argv.slice(-2), ["--no-deps-check", "--no-prune-code-paths"]);
  assert.throws(() => mixRecipe(ctx({ toolchain: toolchain(null) })), /demo 1\.0\.0 is a Mix package, but the toolchain has no Elixir/);
});

test("rebar3: bare compile with the inputs' ebin paths, prod profile", () => {
  const r = rebar3Recipe(ctx());
  assert.deepEqual(r.build[0].argv, ["/opt/rebar3/rebar3", "bare", "compile", "--paths", "/inputs/alpha-1.2.0/ebin:/inputs/beta-0.1.0/ebin"]);
  assert.deepEqual(r.build[0].env, { REBAR_PROFILE: "prod" });
  assert.deepEqual(r.check[0].argv, ["/opt/rebar3/rebar3", "eunit"]);
  assert.deepEqual(r.installFrom, ["."]);
});

test("make: stale .app removed, SKIP_DEPS=1 keeps the Makefile's own DEPS and LOCAL_DEPS", () => {
  const r = makeRecipe(ctx());
  assert.deepEqual(r.configure[0].argv, ["/bin/sh", "-e", "-c", "rm -f ebin/*.app"]);
  assert.deepEqual(r.build[0].argv, ["make", "SKIP_DEPS=1"]);
  assert.ok(!r.build[0].argv.some((a) => a.startsWith("DEPS=") || a.startsWith("LOCAL_DEPS=")));
  assert.deepEqual(r.check[0].argv, ["make", "SKIP_DEPS=1", "eunit"]);
});

test("overrides: add before, after and by default before install; replace; remove", () => {
  const base = standardPhases(makeRecipe(ctx()), [], false, layout);
  const ovs: PhaseOverride[] = [
    { op: "add", name: "early", before: "configure", shell: "echo early" },
    { op: "add", name: "late", after: "build", run: ["touch", "late"] },
    { op: "add", name: "anywhere", run: ["true"] },
    { op: "replace", name: "build", run: ["make", "all"] },
    { op: "remove", name: "patch" },
  ];
  const ps = applyOverrides(base, ovs, "definition of demo 1.0.0");
  assert.deepEqual(names(ps), ["unpack", "early", "configure", "build", "late", "check", "anywhere", "install", "validate"]);
  assert.deepEqual(commands(ps, "early")[0], { argv: ["/bin/sh", "-e", "-c", "echo early"], cwd: "source" });
  assert.deepEqual(commands(ps, "late")[0], { argv: ["touch", "late"], cwd: "source" });
  assert.deepEqual(commands(ps, "build").map((c) => c.argv), [["make", "all"]]);
  assert.equal(base.length, 7, "the input list is not changed");

  // Overrides apply in order: a phase added first can be replaced or removed later.
  const chained = applyOverrides(base, [{ op: "add", name: "x", after: "build", run: ["a"] }, { op: "replace", name: "x", run: ["b"] }, { op: "remove", name: "validate" }], "d");
  assert.deepEqual(names(chained), ["unpack", "patch", "configure", "build", "x", "check", "install"]);
  assert.deepEqual(commands(chained, "x")[0].argv, ["b"]);

  // A replaced check stays skipped without arguments.check.
  const check = applyOverrides(base, [{ op: "replace", name: "check", run: ["./run-tests"] }], "d").find((p) => p.name === "check")!;
  assert.ok(check.kind === "sandbox" && check.skipped === "arguments.check is false" && check.commands[0].argv[0] === "./run-tests");
});

test("overrides that cannot apply are errors naming the definition and the phase", () => {
  const base = standardPhases(makeRecipe(ctx()), [], false, layout);
  const bad: [PhaseOverride, RegExp][] = [
    [{ op: "remove", name: "compile" }, /^definition of demo 1\.0\.0: phase override remove compile: there is no phase compile \(phases: unpack, patch/],
    [{ op: "replace", name: "nope", run: ["x"] }, /there is no phase nope/],
    [{ op: "add", name: "x", after: "nope", run: ["x"] }, /phase override add x after nope: there is no phase nope/],
    [{ op: "remove", name: "unpack" }, /the unpack phase cannot be removed/],
    [{ op: "replace", name: "validate", run: ["true"] }, /replace validate: beamix runs that phase itself/],
    [{ op: "replace", name: "unpack", run: ["true"] }, /replace unpack: beamix runs that phase itself/],
    [{ op: "add", name: "x", before: "unpack", run: ["x"] }, /nothing can run before unpack/],
    [{ op: "add", name: "x", after: "validate", run: ["x"] }, /nothing can run after validate/],
    [{ op: "add", name: "build", after: "configure", run: ["x"] }, /there already is a phase build/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => applyOverrides(base, [o], "definition of demo 1.0.0"), (e: unknown) => e instanceof BeamixError && re.test(e.message), JSON.stringify(o));
  }
});

test("the environment: only what the build sets, homes inside the build directory, declared env on top", () => {
  const env = buildEnvironment({ layout, toolchain: toolchain(), erlLibs: ["/inputs"], mixEnv: "prod", declared: { CFLAGS: "-O2", HOME: "/build/elsewhere", MIX_ENV: "dev" } });
  assert.deepEqual(env, {
    PATH: "/opt/otp/bin:/opt/elixir/bin:/opt/rebar3:/usr/bin:/bin",
    HOME: "/build/elsewhere",
    TMPDIR: "/build/tmp",
    LANG: "C.UTF-8",
    MIX_HOME: "/build/mix-home",
    MIX_ENV: "prod",
    HEX_HOME: "/build/hex-home",
    HEX_OFFLINE: "1",
    REBAR_CACHE_DIR: "/build/rebar-cache",
    ERL_COMPILER_OPTIONS: "deterministic",
    SOURCE_DATE_EPOCH: "1",
    ERL_LIBS: "/inputs",
    CFLAGS: "-O2",
  });
  assert.equal(buildEnvironment({ layout, toolchain: toolchain(), erlLibs: [], mixEnv: "prod", declared: {} }).ERL_LIBS, undefined);
});

test("environment-variables: sourcing the file gives back every value exactly", () => {
  const env = { PLAIN: "abc", SPACES: "a b  c", QUOTES: `it's "quoted" \\ $HOME`, NEWLINE: "one\ntwo", EMPTY: "", UTF8: "żółw ✓" };
  const text = environmentFileText(env);
  assert.equal(text.split("\n")[0], "EMPTY=''", "sorted by name");
  const dir = mkdtempSync(join(tmpdir(), "beamix-envfile-"));
  try {
    writeFileSync(join(dir, "environment-variables"), text);
    const script = `set -a; . ./environment-variables; for k in ${Object.keys(env).join(" ")}; do eval "printf '%s\\0' \\"\\$$k\\""; done`;
    const out = execFileSync("/bin/sh", ["-c", script], { cwd: dir, env: {} }).toString("utf8").split("\0").slice(0, -1);
    assert.deepEqual(out, Object.values(env));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const s of ["", "a'b", "--x", "$(rm -rf /)", "a\nb"]) {
    assert.equal(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(s)}`]).toString(), s);
  }
});

test("the failure reason is the line that says why", () => {
  const elixir = [
    "Compiling 4 files (.ex)",
    "ERROR! the application :mimetable has a different value set for key :types",
    "** (EXIT from #PID<0.96.0>) an exception was raised:",
    "    ** (ErlangError) Erlang error: \"aborting boot\"",
    "        (elixir 1.14.0) Config.Provider.boot/2",
  ].join("\n");
  assert.equal(reasonLine(elixir), "ERROR! the application :mimetable has a different value set for key :types");
  const raised = "Compiling 1 file (.ex)\n\n== Compilation error in file lib/d.ex ==\n** (RuntimeError) boom\n    lib/d.ex:2: (module)\n    (elixir) lib/kernel/parallel_compiler.ex:1: x\n";
  assert.equal(reasonLine(raised), "** (RuntimeError) boom");
  const make = "erlc -o ebin src/a.erl\nsrc/a.erl:3:14: can't find include lib \"w/include/w.hrl\"\nsrc/a.erl:9:1: syntax error before: foo\nmake: *** [Makefile:63: ebin/a.app] Error 1\n";
  // The first error is the cause (the missing include), not the syntax errors that follow.
  assert.equal(reasonLine(make), 'src/a.erl:3:14: can\'t find include lib "w/include/w.hrl"');
  assert.equal(reasonLine("\x1b[0;31mlast words\x1b[0m\n\n"), "last words");
  assert.equal(reasonLine(""), "");
  assert.equal(reasonLine("x".repeat(300)).length, 240);
});
