// Builds the fixture corpus in dependency order and runs every fixture's own
// tests (eunit, ExUnit), then checks that the corpus has the shapes the
// README claims: the table matches the built .app files, optional
// dependencies change what sockadapt compiles, compile-time config reaches
// mimetable, and the stale erlang.mk .app files are really stale.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import {
  type Fixture,
  FixtureBuilder,
  type Outcome,
  type PlanNode,
  depApp,
  plan,
  readAppFile,
  readFixtureTables,
  resolveClosure,
  satisfies,
  transitiveInputs,
} from "./support/fixture-build.ts";

const { packages, consumers } = readFixtureTables();
const roots = [...packages, ...consumers];
const plans = new Map<Fixture, PlanNode>(roots.map((fx) => [fx, plan(fx, packages)]));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "beamix-fixtures-"));
const builder = new FixtureBuilder({
  work,
  concurrency: Math.max(1, Math.min(2, os.availableParallelism())),
  testKeys: new Set([...plans.values()].map((p) => p.key)),
});

after(() => {
  if (!process.env.BEAMIX_KEEP_FIXTURE_BUILD) fs.rmSync(work, { recursive: true, force: true });
});

const label = (fx: Fixture) => `${fx.name} ${fx.version}`;
const tail = (o: Outcome) => o.log.split("\n").slice(-60).join("\n");
const find = (name: string, version: string) => {
  const fx = packages.find((p) => p.name === name && p.version === version);
  assert.ok(fx, `no ${name} ${version} in test/fixtures/README.md`);
  return fx;
};

// The build of `name` inside the closure of `root`.
function nodeIn(root: PlanNode, name: string): PlanNode {
  const node = [root, ...transitiveInputs(root)].find((n) => n.fixture.name === name);
  assert.ok(node, `${name} is not in the closure of ${label(root.fixture)}`);
  return node;
}

async function built(node: PlanNode): Promise<Outcome> {
  const outcome = await builder.realize(node);
  assert.ok(outcome.built, `${label(node.fixture)} did not build:\n${tail(outcome)}`);
  return outcome;
}

const appFile = (o: Outcome) => readAppFile(path.join(o.libDir!, "ebin", `${o.fixture.app}.app`));
const hasBeam = (o: Outcome, module: string) => fs.existsSync(path.join(o.libDir!, "ebin", `${module}.beam`));

describe("fixture corpus: every fixture's own tests pass", { concurrency: true }, () => {
  for (const [fx, node] of plans) {
    test(`${label(fx)} (${fx.build})`, { timeout: 300_000 }, async () => {
      const outcome = await builder.realize(node);
      assert.ok(outcome.built, `${label(fx)} did not build:\n${tail(outcome)}`);
      assert.equal(outcome.tested, true, `${label(fx)}: its tests failed:\n${tail(outcome)}`);
    });
  }
});

describe("fixture corpus: the README table matches the packages", { concurrency: true }, () => {
  test("every directory exists and has the files of its build tool", () => {
    for (const fx of roots) {
      const has = (f: string) => fs.existsSync(path.join(fx.dir, f));
      assert.ok(fs.statSync(fx.dir).isDirectory(), `${label(fx)}: ${fx.dir} missing`);
      assert.ok(has("README.md") && has("LICENSE"), `${label(fx)}: README.md or LICENSE missing`);
      if (fx.build === "rebar3") assert.ok(has("rebar.config") && !has("mix.exs"), label(fx));
      if (fx.build === "make") assert.ok(has("Makefile") && !has("rebar.config") && !has("mix.exs"), label(fx));
      if (fx.build === "mix") assert.ok(has("mix.exs") && has(".formatter.exs"), label(fx));
    }
  });

  for (const fx of packages) {
    test(`${label(fx)}: the built .app has the table's app, version and dependencies`, { timeout: 300_000 }, async () => {
      const outcome = await built(plans.get(fx)!);
      const app = appFile(outcome);
      assert.equal(app.app, fx.app);
      assert.equal(app.vsn, fx.version);
      for (const dep of fx.deps) {
        // Elixir 1.14 leaves optional dependencies out of `applications`.
        assert.equal(
          app.applications.includes(depApp(dep)),
          !dep.optional,
          `${label(fx)}: ${depApp(dep)} ${dep.optional ? "is" : "is not"} in applications ${app.applications.join(",")}`,
        );
      }
      for (const env of fx.compileEnv) {
        assert.match(app.text, new RegExp(`\\{compile_env,\\s*\\[\\{${env},`), `${label(fx)} records no compile_env`);
      }
    });
  }
});

describe("fixture corpus: shapes", { concurrency: true }, () => {
  test("beacon: ~> 1.1 and ~> 1.2 both pick 1.2.0, never the breaking 2.0.0", () => {
    const versions = packages.filter((p) => p.name === "beacon").map((p) => p.version);
    assert.deepEqual(versions.filter((v) => satisfies(v, "~> 1.1")), ["1.1.0", "1.2.0"]);
    for (const root of ["hello_beacon", "webapp"]) {
      const fx = consumers.find((c) => c.name === root)!;
      assert.equal(resolveClosure(fx, packages).get("beacon")?.version, "1.2.0", root);
    }
    assert.equal(resolveClosure(find("plugboard", "0.4.0"), packages).get("beacon")?.version, "1.2.0");
  });

  test("beacon: ?BEACON_HERE embeds the build path of beacon.erl", { timeout: 300_000 }, async () => {
    const outcome = await built(plans.get(find("beacon", "1.2.0"))!);
    const eval_ = 'io:format("~s", [maps:get(file, beacon:origin())]), halt().';
    const run = spawnSync("erl", ["-noshell", "-pa", path.join(outcome.libDir!, "ebin"), "-eval", eval_], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, path.join(work, "build", outcome.key, "src", "beacon.erl"));
  });

  test("erlang.mk libraries: the committed .app is stale and the build replaces it", { timeout: 300_000 }, async () => {
    for (const [name, deps] of [["wirecodec", ["kernel", "stdlib", "crypto"]], ["wireserve", ["kernel", "stdlib", "wirecodec"]]] as const) {
      const fx = find(name, "1.0.0");
      const committed = readAppFile(path.join(fx.dir, "ebin", `${name}.app`));
      assert.notEqual(committed.vsn, fx.version, `${name}: committed .app should be stale`);
      const app = appFile(await built(plans.get(fx)!));
      assert.equal(app.vsn, fx.version);
      assert.deepEqual(app.applications, deps);
    }
  });

  test("sockadapt: its wireserve adapter exists exactly when wireserve is in the closure", { timeout: 300_000 }, async () => {
    const trellis = plans.get(find("trellis", "0.9.0"))!;
    const webapp = plans.get(consumers.find((c) => c.name === "webapp")!)!;
    const without = nodeIn(trellis, "sockadapt");
    const withIt = nodeIn(webapp, "sockadapt");
    assert.notEqual(without.key, withIt.key, "the optional input must change the build's identity");
    assert.equal(withIt.key, plans.get(find("sockadapt", "0.1.2"))!.key, "webapp reuses sockadapt's own build");
    assert.deepEqual(without.inputs.map((i) => i.fixture.name), ["jsonish"]);
    assert.equal(hasBeam(await built(without), "Elixir.Sockadapt.WireserveAdapter"), false);
    assert.equal(hasBeam(await built(withIt), "Elixir.Sockadapt.WireserveAdapter"), true);
    assert.equal(hasBeam(await built(without), "Elixir.Sockadapt.Json"), true);
  });

  test("mimetable: compiled with the consumer's config for webapp, without config otherwise", { timeout: 300_000 }, async () => {
    const own = appFile(await built(plans.get(find("mimetable", "1.0.0"))!));
    assert.match(own.text, /\{compile_env,\s*\[[\s\S]*?\{mimetable,\s*\[types\],\s*error\}/);
    assert.match(own.text, /\{mimetable,\s*\[statuses\],\s*error\}/);
    const webapp = plans.get(consumers.find((c) => c.name === "webapp")!)!;
    const forWebapp = appFile(await built(nodeIn(webapp, "mimetable")));
    assert.match(forWebapp.text, /\{mimetable,\s*\[types\],\s*\{ok,/);
    assert.match(forWebapp.text, /application\/x-webapp-note/);
    // Everything depending on mimetable is a different build for webapp.
    assert.notEqual(nodeIn(webapp, "trellis").key, plans.get(find("trellis", "0.9.0"))!.key);
  });

  test("trellis: ships its compiler and the template read at compile time", { timeout: 300_000 }, async () => {
    const outcome = await built(plans.get(find("trellis", "0.9.0"))!);
    assert.ok(hasBeam(outcome, "Elixir.Mix.Tasks.Compile.Trellis"));
    assert.ok(fs.existsSync(path.join(outcome.libDir!, "priv", "templates", "error.html.tmpl")));
  });

  test("nifsum: the NIF is installed in priv", { timeout: 300_000 }, async () => {
    const outcome = await built(plans.get(find("nifsum", "0.2.0"))!);
    assert.ok(fs.statSync(path.join(outcome.libDir!, "priv", "nifsum.so")).isFile());
  });

  test("confetti: package confetti, application confetti_app", { timeout: 300_000 }, async () => {
    const fx = find("confetti", "0.3.0");
    assert.equal(fx.app, "confetti_app");
    const outcome = await built(plans.get(fx)!);
    assert.equal(path.basename(outcome.libDir!), "confetti_app-0.3.0");
    const webapp = consumers.find((c) => c.name === "webapp")!;
    assert.deepEqual(webapp.deps.find((d) => d.package === "confetti")?.app, "confetti_app");
  });
});
