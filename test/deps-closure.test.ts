// Which dependencies a project needs, from mix.exs declarations and mix.lock (closure.ts):
// only:, optional dependencies, overrides, path and git dependencies, and a stale lock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMixLock, type GitLockEntry } from "../src/mix/lock.ts";
import { dependencyClosure, type ClosureInput } from "../src/deps/closure.ts";
import type { DepDecl, MixProjectInfo } from "../src/deps/mix-answer-terms.ts";

const SUM = "0".repeat(64);

function decl(app: string, requirement: string | null, extra: Partial<DepDecl> = {}): DepDecl {
  return {
    app,
    requirement,
    scm: "hex",
    scmModule: "Elixir.Beamix.HexSCM",
    hex: { package: app, repo: "hexpm" },
    env: "prod",
    only: null,
    targets: null,
    optional: false,
    override: false,
    manager: null,
    unsupported: [],
    dest: `/p/deps/${app}`,
    build: `/p/_build/test/lib/${app}`,
    from: "/p/mix.exs",
    ...extra,
  };
}

function project(deps: DepDecl[]): MixProjectInfo {
  return {
    dir: "/p",
    app: "p",
    version: "0.1.0",
    mixEnv: "test",
    buildPath: "/p/_build/test",
    depsPath: "/p/deps",
    lockfile: "/p/mix.lock",
    configPath: "/p/config/config.exs",
    elixirVersion: "1.14.0",
    otpRelease: "25",
    deps,
  };
}

// A lock of Hex entries: app -> [version, [[dep, requirement, optional]...]].
function lock(entries: Record<string, [string, [string, string, boolean][]]>, extra = ""): string {
  const lines = Object.entries(entries).map(([app, [version, deps]]) => {
    const ds = deps.map(([d, req, opt]) => `{:${d}, "${req}", [hex: :${d}, repo: "hexpm", optional: ${opt}]}`).join(", ");
    return `  "${app}": {:hex, :${app}, "${version}", "${SUM}", [:mix], [${ds}], "hexpm", "${SUM}"},`;
  });
  return `%{\n${lines.join("\n")}\n${extra}}\n`;
}

function input(deps: DepDecl[], lockText: string, children: Record<string, DepDecl[]> = {}): ClosureInput & { checkouts: string[] } {
  const checkouts: string[] = [];
  return {
    project: project(deps),
    lock: parseMixLock(lockText),
    checkouts,
    async childrenOf(app) {
      return children[app] ?? [];
    },
    async gitCheckout(app: string, entry: GitLockEntry) {
      checkouts.push(`${app}@${entry.rev}`);
      return `/scratch/${app}`;
    },
  };
}

const LOCK = lock({
  a: ["1.0.0", [["b", "~> 1.0", true], ["c", "~> 2.0", false]]],
  b: ["1.2.0", []],
  c: ["2.1.0", [["b", "~> 1.1", false]]],
  d: ["0.1.0", [["b", "~> 1.0", true]]],
  e: ["3.0.0", []],
});

test("an optional dependency is in the closure only when something requires it, and then an input of all that declare it", async () => {
  // d declares b optional and nothing requires it: b stays out.
  const alone = await dependencyClosure(input([decl("d", "~> 0.1")], LOCK));
  assert.deepEqual([...alone.nodes.keys()], ["d"]);
  assert.deepEqual(alone.nodes.get("d")!.inputs, []);

  // a requires c, c requires b: b is in, and an (optional) input of a and of d.
  const c = await dependencyClosure(input([decl("a", "~> 1.0"), decl("d", "~> 0.1")], LOCK));
  assert.deepEqual([...c.nodes.keys()], ["b", "c", "a", "d"]); // inputs first
  assert.deepEqual(c.nodes.get("a")!.inputs, ["b", "c"]);
  assert.deepEqual(c.nodes.get("a")!.optionalInputs, ["b"]);
  assert.deepEqual(c.nodes.get("d")!.inputs, ["b"]);
  assert.equal(c.nodes.get("a")!.topLevel, true);
  assert.equal(c.nodes.get("b")!.topLevel, false);
  assert.equal(c.nodes.get("b")!.dest, "/p/deps/b");
  assert.equal(c.nodes.get("b")!.build, "/p/_build/test/lib/b");
});

test("only: and targets: decide which of the project's declarations count", async () => {
  const c = await dependencyClosure(input([decl("e", "~> 3.0", { only: ["dev"] }), decl("d", "~> 0.1", { only: ["test", "dev"] }), decl("b", "~> 1.0", { targets: ["rpi"] })], LOCK));
  assert.deepEqual([...c.nodes.keys()], ["d"]);
  // The project's env: dev would take e too.
  const dev = input([decl("e", "~> 3.0", { only: ["dev"] })], LOCK);
  dev.project.mixEnv = "dev";
  assert.deepEqual([...(await dependencyClosure(dev)).nodes.keys()], ["e"]);
});

test("a stale lock is refused with the way out: a missing entry, a version the requirement excludes, another package", async () => {
  await assert.rejects(dependencyClosure(input([decl("zzz", "~> 1.0")], LOCK)), /mix\.lock: zzz is not locked \(needed by mix\.exs\); run mix deps\.get/);
  await assert.rejects(dependencyClosure(input([decl("e", "~> 2.0")], LOCK)), /e is locked at 3\.0\.0, but mix\.exs requires ~> 2\.0; run mix deps\.get/);
  await assert.rejects(dependencyClosure(input([decl("a", "~> 1.0"), decl("c", "~> 2.0", { hex: { package: "c_fork", repo: "hexpm" } })], LOCK)), /c is locked as hexpm\/c, but \/p\/mix\.exs asks for hexpm\/c_fork/);
  // A requirement between dependencies counts too.
  const strict = lock({ a: ["1.0.0", [["c", "~> 2.2", false]]], c: ["2.1.0", []] });
  await assert.rejects(dependencyClosure(input([decl("a", "~> 1.0")], strict)), /c is locked at 2\.1\.0, but a requires ~> 2\.2/);
  // ... unless the project overrides it.
  const overridden = await dependencyClosure(input([decl("a", "~> 1.0"), decl("c", "~> 2.0", { override: true })], strict));
  assert.deepEqual([...overridden.nodes.keys()], ["c", "a"]);
});

test("options beamix cannot honour are refused, naming the dependency", async () => {
  await assert.rejects(dependencyClosure(input([decl("e", "~> 3.0", { unsupported: ["compile"] })], LOCK)), /\/p\/mix\.exs: dependency e uses compile:, which beamix deps does not support/);
});

test("path dependencies are left to Mix, but what they need is in the closure", async () => {
  const path = decl("local", null, { scm: "path", scmModule: "Elixir.Mix.SCM.Path", path: "/p/local", hex: undefined });
  const c = await dependencyClosure(input([path], LOCK, { local: [decl("e", "~> 3.0", { from: "/p/local/mix.exs" })] }));
  assert.deepEqual([...c.nodes.keys()], ["e"]);
  assert.deepEqual(c.pathDeps, ["local"]);
  // A Hex package cannot be built against a path dependency.
  const pathB = decl("b", null, { scm: "path", scmModule: "Elixir.Mix.SCM.Path", path: "/p/b", override: true, hex: undefined });
  await assert.rejects(dependencyClosure(input([decl("c", "~> 2.0"), pathB], LOCK)), /b is a path dependency of this project, but c \(built by beamix\) needs it/);
});

test("a git dependency is checked out at its locked commit and its own declarations are read, in its env", async () => {
  const rev = "1234567890abcdef1234567890abcdef12345678";
  const text = lock({ e: ["3.0.0", []], b: ["1.2.0", []] }, `  "g": {:git, "https://example.invalid/g.git", "${rev}", [branch: "main"]},\n`);
  const g = decl("g", null, { scm: "git", scmModule: "Elixir.Mix.SCM.Git", git: { url: "https://example.invalid/g.git", lockOpts: [["branch", { type: "binary", value: Buffer.from("main") }]] }, hex: undefined });
  const children = { g: [decl("e", "~> 3.0", { from: "/scratch/g/mix.exs", dest: "/scratch/g/deps/e" }), decl("b", "~> 1.0", { only: ["dev"], from: "/scratch/g/mix.exs" })] };
  const inp = input([g], text, children);
  const c = await dependencyClosure(inp);
  assert.deepEqual(inp.checkouts, [`g@${rev}`]);
  assert.deepEqual([...c.nodes.keys()], ["e", "g"]);
  assert.equal(c.nodes.get("g")!.source.kind, "git");
  assert.deepEqual(c.nodes.get("g")!.inputs, ["e"]);
  // Kept under the project's deps, not where g's mix.exs was read.
  assert.equal(c.nodes.get("e")!.dest, "/p/deps/e");

  // The lock's options must be those of mix.exs.
  const moved = { ...g, git: { url: "https://example.invalid/g.git", lockOpts: [] } };
  await assert.rejects(dependencyClosure(input([moved], text, children)), /the git entry of g \(https:\/\/example\.invalid\/g\.git\) does not match/);
  const asHex = decl("g", "~> 1.0");
  await assert.rejects(dependencyClosure(input([asHex], text, children)), /g is locked as a git dependency, but no mix\.exs in the closure declares it with git:/);
});
