import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { addDepsToMixExs, cleanEnv, compilePhases, run, type PackageInfo } from "./mix-baseline.ts";

const pkg = (app: string, buildTool: PackageInfo["buildTool"], requirements: string[]): PackageInfo => ({
  app,
  name: app,
  version: "1.0.0",
  buildTool,
  requirements: requirements.map((r) => ({ app: r.replace("?", ""), optional: r.endsWith("?") })),
});

describe("compilePhases", () => {
  const apps = [pkg("cowlib", "make", []), pkg("ranch", "make", []), pkg("cowboy", "make", ["cowlib", "ranch"]), pkg("plug", "mix", []), pkg("adapter", "mix", ["plug", "cowboy"])];

  test("one phase when Mix's order already has every dependency first", () => {
    assert.deepEqual(compilePhases(["cowlib", "ranch", "plug", "cowboy", "adapter"], apps), [["cowlib", "ranch", "plug", "cowboy", "adapter"]]);
  });

  test("a make package Mix orders before its dependencies, and what needs it, wait for a later phase", () => {
    assert.deepEqual(compilePhases(["cowboy", "ranch", "plug", "adapter", "cowlib"], apps), [
      ["ranch", "plug", "cowlib"],
      ["cowboy", "adapter"],
    ]);
  });

  test("dependencies outside the closure (unfulfilled optional ones) are ignored", () => {
    const withOptional = [...apps, pkg("web", "mix", ["plug", "json?"])];
    assert.deepEqual(compilePhases(["plug", "web"], withOptional), [["plug", "web"]]);
  });

  test("a cycle is an error", () => {
    assert.throws(() => compilePhases(["a", "b"], [pkg("a", "make", ["b"]), pkg("b", "make", ["a"])]), /dependency cycle among a, b/);
  });
});

describe("addDepsToMixExs", () => {
  const mixExs = `defmodule W.MixProject do
  use Mix.Project
  def project, do: [app: :w, deps: deps()]

  defp deps do
    [
      {:trellis, "~> 0.9"}
    ]
  end
end
`;

  test("adds the dependencies at the top of the deps list", () => {
    const out = addDepsToMixExs(mixExs, ["wirecodec", "ranch"], "mix.exs");
    assert.match(out, /defp deps do\n    \[\n      \{:wirecodec, ">= 0\.0\.0"\},\n      \{:ranch, ">= 0\.0\.0"\},\n      \{:trellis, "~> 0\.9"\}/);
    assert.equal(addDepsToMixExs(mixExs, [], "mix.exs"), mixExs);
  });

  test("names the file when there is no deps function", () => {
    assert.throws(() => addDepsToMixExs("defmodule X do\nend\n", ["a"], "/p/mix.exs"), /\/p\/mix\.exs: no "defp deps do \[" to add a to/);
  });
});

describe("run", () => {
  test("reports the exit code, the output of both streams and the wall-clock time", async () => {
    const dir = await mkdtemp(join(tmpdir(), "beamix-run-test-"));
    try {
      const started = performance.now();
      const res = await run("sh", ["-c", "echo out; echo err >&2; sleep 0.3; pwd; exit 3"], dir, cleanEnv({}));
      const around = (performance.now() - started) / 1000;
      assert.equal(res.code, 3);
      assert.match(res.output, /out/);
      assert.match(res.output, /err/);
      assert.ok(res.output.includes(dir), "runs in cwd");
      // At least the sleep, and no more than the call took as seen from here (no fixed bound: a
      // loaded machine may take any time).
      assert.ok(res.seconds >= 0.3 && res.seconds <= around, `wall ${res.seconds}, the call ${around}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("cleanEnv drops Mix, Hex, rebar and Erlang settings of the caller", () => {
    process.env.MIX_EXS = "/elsewhere/mix.exs";
    process.env.ERL_LIBS = "/elsewhere";
    try {
      const env = cleanEnv({ MIX_ENV: "prod" });
      assert.equal(env.MIX_EXS, undefined);
      assert.equal(env.ERL_LIBS, undefined);
      assert.equal(env.MIX_ENV, "prod");
      assert.equal(env.PATH, process.env.PATH);
    } finally {
      delete process.env.MIX_EXS;
      delete process.env.ERL_LIBS;
    }
  });
});
