// Resolution is checked against Mix's own requirement semantics, in Elixir.
//
// What the reference is: Hex itself is not installed here, so the reference is an Elixir script
// (REFERENCE below) that decides every requirement with Elixir's real `Version` module (the
// code Hex calls) and searches with the plainest possible algorithm: depth-first backtracking
// over Hex 2's documented rules. Next package: among those required and undecided, the one
// with the fewest releases allowed by the requirements of the request and of the releases
// decided so far, ties by name; candidates: stable releases newest first, then pre-releases
// newest first (by precedence alone for a root with allowPre); an optional dependency only
// constrains; locked packages only take their locked version; retired releases are skipped
// unless locked or allowed. beamix's conflict-driven solver must find exactly the solution
// this search finds first, or fail exactly when it finds none.
//
// Registries: the fixture corpus (packed, signed and read back through HexRepo and
// hexPackageSource) and seeded synthetic registries with pre-releases, retired releases,
// optional dependencies, cycles and unsatisfiable corners.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BeamixError } from "../src/errors.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import {
  hexPackageSource,
  memoryPackageSource,
  resolve,
  type PackageSource,
  type ReleaseInfo,
  type RootRequirement,
} from "../src/resolve/resolve.ts";
import { makeFixtureRegistry } from "./support/fixture-registry.ts";
import { rng } from "./support/rng.ts";

const REFERENCE = String.raw`
defmodule ReferenceResolver do
  def run(%{packages: packages, cases: cases}) do
    for c <- cases do
      case dfs(packages, c, %{}) do
        {:ok, decided} ->
          picks = decided |> Enum.sort() |> Enum.map(fn {n, v} -> n <> "=" <> v end)
          Enum.join([c.id, "ok" | picks], " ")

        :none ->
          c.id <> " fail"
      end
    end
  end

  defp dfs(packages, c, decided) do
    reqs = requirements(packages, c, decided)
    pending = for({n, _req, false} <- reqs, not Map.has_key?(decided, n), do: n) |> Enum.uniq() |> Enum.sort()

    if pending == [] do
      {:ok, decided}
    else
      {name, allowed} =
        pending
        |> Enum.map(fn n -> {n, allowed(packages, c, n, reqs)} end)
        |> Enum.min_by(fn {_n, releases} -> length(releases) end)

      allowed
      |> order(c, name)
      |> Enum.find_value(:none, fn release ->
        if consistent?(release, decided) do
          case dfs(packages, c, Map.put(decided, name, release.version)) do
            {:ok, solution} -> {:ok, solution}
            :none -> nil
          end
        end
      end)
    end
  end

  # {package, requirement or nil, optional?} from the request and every decided release.
  defp requirements(packages, c, decided) do
    roots = for {name, req, _pre} <- c.roots, do: {name, req, false}

    deps =
      for {name, version} <- decided,
          release = Enum.find(packages[name], &(&1.version == version)),
          dep <- release.deps,
          do: dep

    roots ++ deps
  end

  defp usable(packages, c, name) do
    releases = Map.get(packages, name, [])

    case Map.fetch(c.locked, name) do
      {:ok, locked} ->
        Enum.filter(releases, &(&1.version == locked))

      :error ->
        Enum.reject(releases, fn r ->
          r.retired and name not in c.allow_retired and (name <> "@" <> r.version) not in c.allow_retired
        end)
    end
  end

  defp allowed(packages, c, name, reqs) do
    on = for {^name, req, _optional} <- reqs, do: req

    Enum.filter(usable(packages, c, name), fn r ->
      Enum.all?(on, fn req -> req == nil or Version.match?(r.version, req) end)
    end)
  end

  defp consistent?(release, decided) do
    Enum.all?(release.deps, fn {dep, req, _optional} ->
      case Map.fetch(decided, dep) do
        {:ok, version} -> Version.match?(version, req)
        :error -> true
      end
    end)
  end

  defp order(releases, c, name) do
    newest_first = Enum.sort(releases, fn a, b -> Version.compare(a.version, b.version) != :lt end)

    if Enum.any?(c.roots, fn {n, _req, pre} -> n == name and pre end) do
      newest_first
    else
      {stable, pre} = Enum.split_with(newest_first, &(Version.parse!(&1.version).pre == []))
      stable ++ pre
    end
  end
end

[path] = System.argv()
{data, _binding} = Code.eval_file(path)
IO.puts(Enum.join(ReferenceResolver.run(data), "\n"))
`;

interface Case {
  roots: RootRequirement[];
  locked?: Map<string, string>;
  allowRetired?: string[];
}

type Registry = Record<string, ReleaseInfo[]>;

// Elixir literals: JSON string syntax is valid Elixir for the plain ASCII used here.
const ex = (s: string): string => {
  assert.match(s, /^[\x20-\x7e]*$/);
  assert.doesNotMatch(s, /#\{/);
  return JSON.stringify(s);
};

function elixirData(registry: Registry, cases: Case[]): string {
  const pkgs = Object.entries(registry).map(([name, releases]) => {
    const rels = releases.map((r) => {
      const deps = r.dependencies.map((d) => `{${ex(d.package)}, ${ex(d.requirement)}, ${d.optional}}`);
      return `%{version: ${ex(r.version)}, retired: ${r.retired !== undefined}, deps: [${deps.join(", ")}]}`;
    });
    return `${ex(name)} => [${rels.join(", ")}]`;
  });
  const cs = cases.map((c, i) => {
    const roots = c.roots.map((r) => `{${ex(r.name)}, ${r.requirement === undefined ? "nil" : ex(r.requirement)}, ${r.allowPre === true}}`);
    const locked = [...(c.locked ?? new Map())].map(([n, v]) => `${ex(n)} => ${ex(v)}`);
    const allow = (c.allowRetired ?? []).map(ex);
    return `%{id: "${i}", roots: [${roots.join(", ")}], locked: %{${locked.join(", ")}}, allow_retired: [${allow.join(", ")}]}`;
  });
  return `%{packages: %{${pkgs.join(",\n")}},\ncases: [${cs.join(",\n")}]}\n`;
}

async function referenceAnswers(registry: Registry, cases: Case[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "beamix-resolve-ref-"));
  try {
    await writeFile(join(dir, "reference.exs"), REFERENCE);
    await writeFile(join(dir, "data.exs"), elixirData(registry, cases));
    const run = spawnSync("elixir", [join(dir, "reference.exs"), join(dir, "data.exs")], { encoding: "utf8", timeout: 120_000 });
    assert.equal(run.error, undefined, `could not run elixir: ${run.error}`);
    assert.equal(run.status, 0, `elixir failed:\n${run.stderr.slice(-3000)}`);
    const lines = run.stdout.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, cases.length, "the reference answered every case");
    return lines;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function beamixAnswer(id: number, c: Case, source: PackageSource): Promise<string> {
  try {
    const opts: { locked?: Map<string, string>; allowRetired?: string[] } = {};
    if (c.locked) opts.locked = c.locked;
    if (c.allowRetired) opts.allowRetired = c.allowRetired;
    const r = await resolve(c.roots, source, opts);
    const picks = [...r.packages.values()].map((p) => `${p.name}=${p.version}`).sort();
    return [String(id), "ok", ...picks].join(" ");
  } catch (err) {
    if (!(err instanceof BeamixError)) throw err;
    assert.match(err.message, /^cannot resolve dependencies:\n./, `case ${id}: a failure explains itself`);
    return `${id} fail`;
  }
}

async function compare(registry: Registry, cases: Case[], source: PackageSource): Promise<{ ok: number; fail: number }> {
  const expected = await referenceAnswers(registry, cases);
  let ok = 0;
  let fail = 0;
  for (let i = 0; i < cases.length; i++) {
    const ours = await beamixAnswer(i, cases[i], source);
    const roots = cases[i].roots.map((r) => `${r.name}${r.requirement ? `@${r.requirement}` : ""}${r.allowPre ? " (pre)" : ""}`).join(", ");
    const extra = `${cases[i].locked?.size ? ` locked ${[...cases[i].locked!].join(";")}` : ""}${cases[i].allowRetired ? ` allow-retired ${cases[i].allowRetired!.join(",")}` : ""}`;
    assert.equal(ours, expected[i], `case ${i}: ${roots}${extra}`);
    if (ours.endsWith(" fail")) fail++;
    else ok++;
  }
  return { ok, fail };
}

test("fixture corpus, read through a signed registry: beamix picks what the reference picks", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-resolve-corpus-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const reg = await makeFixtureRegistry(join(dir, "repo"));
  const repo = new HexRepo({ name: "hexpm", url: pathToFileURL(reg.dir).href, publicKeyPem: reg.publicKeyPem, cacheDir: join(dir, "cache") });
  const source = hexPackageSource([repo]);

  const names = (await repo.names()).packages.map((p) => p.name).sort();
  assert.ok(names.includes("beacon") && names.includes("trellis"), "the corpus registry lists its packages");
  const registry: Registry = {};
  for (const name of names) registry[name] = (await source.releases("hexpm", name))!;

  const r = (name: string, requirement?: string): RootRequirement => (requirement === undefined ? { name } : { name, requirement });
  const cases: Case[] = [
    { roots: [r("beacon", "~> 1.1")] }, // hello_beacon
    { roots: [r("trellis", "~> 0.9"), r("sockadapt", "~> 0.1"), r("wireserve", "~> 1.0"), r("jsonish", "~> 0.3"), r("nifsum", "~> 0.2"), r("confetti", "~> 0.3")] }, // webapp
    { roots: [r("trellis")] },
    { roots: [r("sockadapt")] },
    { roots: [r("sockadapt"), r("wireserve")] },
    { roots: [r("trellis"), r("beacon", "~> 2.0")] },
    { roots: [r("plugboard"), r("beacon", "~> 2.0")] },
    { roots: [r("plugboard")], locked: new Map([["beacon", "1.1.0"]]) },
    { roots: [r("trellis")], locked: new Map([["beacon", "1.1.0"]]) },
    { roots: [r("beacon"), r("plugboard")], locked: new Map([["plugboard", "0.4.0"]]) },
    { roots: [r("beacon", "== 1.1.0"), r("plugboard")] },
    { roots: [r("beacon", "~> 3.0")] },
    { roots: [r("nosuch")] },
    { roots: [r("beacon", "< 1.2.0 or >= 2.0.0"), r("plugboard")] },
  ];
  const counts = await compare(registry, cases, source);
  t.diagnostic(`${cases.length} cases: ${counts.ok} resolved, ${counts.fail} failed`);
  assert.ok(counts.ok >= 8 && counts.fail >= 4, `both outcomes are exercised (${counts.ok} ok, ${counts.fail} fail)`);
});


const VERSIONS = ["0.1.0", "0.2.0", "0.2.1", "1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "1.3.0-beta", "2.0.0-rc.0", "2.0.0", "2.1.0"];
const REQUIREMENTS = [
  "~> 1.0",
  ">= 0.1.0",
  "~> 1.0 or ~> 2.0",
  "~> 1.1",
  "~> 1.2",
  "~> 0.2",
  "~> 0.2.0",
  "~> 2.0",
  ">= 0.2.0",
  ">= 1.0.0 and < 2.0.0",
  "== 1.0.0",
  "< 1.0.0",
  "~> 0.1 or ~> 2.0",
  "~> 1.2.0-rc.0",
  "> 1.1.0",
  "~> 2.0.0-rc.0",
];

function syntheticRegistry(seed: number): { registry: Registry; cases: Case[] } {
  const rnd = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
  const registry: Registry = {};
  for (const name of names) {
    const versions = VERSIONS.filter(() => rnd() < 0.45).slice(0, 5);
    if (versions.length === 0) versions.push(pick(VERSIONS));
    registry[name] = versions.map((version) => {
      const deps = names
        .filter((n) => n !== name && rnd() < 0.3)
        .map((n) => ({ package: n, app: n, requirement: pick(REQUIREMENTS), optional: rnd() < 0.25, repository: "hexpm" }));
      const release: ReleaseInfo = { version, dependencies: deps, innerChecksum: "00".repeat(32) };
      if (rnd() < 0.1) release.retired = { reason: pick(["security", "deprecated", "invalid"]) };
      return release;
    });
  }
  // Sometimes a dependency on a package that does not exist.
  if (rnd() < 0.3) registry[names[0]][0].dependencies.push({ package: "ghost", app: "ghost", requirement: "~> 1.0", optional: rnd() < 0.5, repository: "hexpm" });

  const cases: Case[] = [];
  for (let i = 0; i < 12; i++) {
    const roots: RootRequirement[] = [];
    for (const name of names) {
      if (rnd() >= 0.35) continue;
      const root: RootRequirement = { name };
      if (rnd() < 0.6) root.requirement = pick(REQUIREMENTS);
      if (rnd() < 0.15) root.allowPre = true;
      roots.push(root);
    }
    if (roots.length === 0) roots.push({ name: pick(names) });
    const c: Case = { roots };
    if (rnd() < 0.25) {
      const name = pick(names);
      c.locked = new Map([[name, pick(registry[name]).version]]);
    }
    if (rnd() < 0.25) {
      const name = pick(names);
      c.allowRetired = [rnd() < 0.5 ? name : `${name}@${pick(registry[name]).version}`];
    }
    cases.push(c);
  }
  return { registry, cases };
}

test("synthetic registries: beamix picks what the reference picks, and fails when it finds nothing", async (t) => {
  let ok = 0;
  let fail = 0;
  const all: { registry: Registry; cases: Case[] }[] = [];
  for (let seed = 1; seed <= 40; seed++) all.push(syntheticRegistry(seed));
  // One Elixir run per registry would cost a VM start each: merge them under distinct names.
  const merged: Registry = {};
  const cases: Case[] = [];
  all.forEach(({ registry, cases: cs }, k) => {
    const rename = (n: string): string => `r${k}_${n}`;
    for (const [name, releases] of Object.entries(registry)) {
      merged[rename(name)] = releases.map((r) => ({ ...r, dependencies: r.dependencies.map((d) => ({ ...d, package: rename(d.package), app: rename(d.app) })) }));
    }
    for (const c of cs) {
      const renamed: Case = { roots: c.roots.map((r) => ({ ...r, name: rename(r.name) })) };
      if (c.locked) renamed.locked = new Map([...c.locked].map(([n, v]) => [rename(n), v]));
      if (c.allowRetired) renamed.allowRetired = c.allowRetired.map(rename);
      cases.push(renamed);
    }
  });
  const counts = await compare(merged, cases, memoryPackageSource({ hexpm: merged }));
  ok += counts.ok;
  fail += counts.fail;
  t.diagnostic(`${cases.length} cases: ${ok} resolved, ${fail} failed`);
  assert.ok(ok >= 150 && fail >= 100, `both outcomes are common (${ok} ok, ${fail} fail)`);
});
