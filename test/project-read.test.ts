import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { parseTerms } from "../src/erlang/parse.ts";
import type { Term } from "../src/erlang/term.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";
import { readPackageDir, type PackageSource } from "../src/project/package-dir.ts";

const VECTORS = join(import.meta.dirname, "vectors", "hex");
const SOURCES = join(VECTORS, "sources");

const scratch = mkdtempSync(join(tmpdir(), "beamix-project-"));
test.after(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

// A writable copy of a directory with every file at `fileMode` and every directory at 0755
// (the vectors are checked out read-only; Hex built them from 0644 files).
function copyDir(src: string, fileMode = 0o644): string {
  const dst = join(scratch, `p${counter++}`);
  cpSync(src, dst, { recursive: true });
  const fix = (p: string): void => {
    if (statSync(p).isDirectory()) {
      chmodSync(p, 0o755);
      for (const n of readdirSync(p)) fix(join(p, n));
    } else chmodSync(p, fileMode);
  };
  fix(dst);
  return dst;
}

function newDir(files: Record<string, string>): string {
  const dir = join(scratch, `p${counter++}`);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

// ---- the vectors' metadata.config, as HexMetadata ----

const text = (t: Term): string => {
  if (t.type === "binary") return t.value.toString("utf8");
  throw new Error(`not a binary: ${t.type}`);
};
const items = (t: Term): Term[] => {
  if (t.type === "list") return t.items;
  if (t.type === "string" && t.value === "") return [];
  throw new Error(`not a list: ${t.type}`);
};

function vectorMetadata(file: string): HexMetadata {
  const m = new Map<string, Term>();
  for (const t of parseTerms(readFileSync(file, "utf8"), file)) {
    if (t.type !== "tuple") throw new Error("bad metadata term");
    m.set(text(t.items[0]), t.items[1]);
  }
  const meta: HexMetadata = {
    name: text(m.get("name")!),
    version: text(m.get("version")!),
    app: text(m.get("app")!),
    files: items(m.get("files")!).map(text),
    licenses: items(m.get("licenses")!).map(text),
    buildTools: items(m.get("build_tools")!).map(text),
    requirements: items(m.get("requirements")!).map((r) => {
      const kv = new Map(items(r).map((p) => (p.type === "tuple" ? [text(p.items[0]), p.items[1]] : ["", p])));
      const opt = kv.get("optional")!;
      return {
        name: text(kv.get("name")!),
        app: text(kv.get("app")!),
        requirement: text(kv.get("requirement")!),
        optional: opt.type === "atom" && opt.value === "true",
        repository: text(kv.get("repository")!),
      };
    }),
    links: items(m.get("links")!).map((p): [string, string] => (p.type === "tuple" ? [text(p.items[0]), text(p.items[1])] : ["", ""])),
    other: [],
  };
  if (m.has("description")) meta.description = text(m.get("description")!);
  if (m.has("elixir")) meta.elixir = text(m.get("elixir")!);
  return meta;
}

interface Member {
  name: string;
  mode: number;
  sha256: string;
}
function innerMembers(layoutJson: string): Member[] {
  const d = JSON.parse(readFileSync(layoutJson, "utf8"));
  return d.inner_tar.members.map((m: { fields: { name: string }; mode_octal: string; data_sha256: string }) => ({
    name: m.fields.name,
    mode: parseInt(m.mode_octal.slice(2), 8),
    sha256: m.data_sha256,
  }));
}

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

async function assertMatchesVector(dir: string, decoded: string, name: string): Promise<PackageSource> {
  const src = await readPackageDir(dir);
  assert.deepEqual(src.metadata, vectorMetadata(join(decoded, `${name}.metadata.config`)), name);
  // Tarball members: same names, modes and contents, in the same order.
  const ours = src.files.map((f) => ({ name: f.path, mode: f.mode, sha256: sha256(join(dir, f.path)) }));
  assert.deepEqual(ours, innerMembers(join(decoded, `${name}.layout.json`)), name);
  return src;
}

const TARBALLS = join(VECTORS, "tarballs", "decoded");
const VARIANTS = join(VECTORS, "tarball-variants", "decoded");

// Hex lists directories in readdir order; we sort. For vec_core, vec_opt and vec_alias the
// sorted order is the order Hex used; vec_erl's vector listed src/vec_erl.erl first (ext4
// hash order), and its "app-src-first" variant is the sorted order.
test("Mix packages: metadata and members equal Hex's vectors", async () => {
  await assertMatchesVector(copyDir(join(SOURCES, "vec_core")), TARBALLS, "vec_core-0.3.0");
  await assertMatchesVector(copyDir(join(SOURCES, "vec_opt")), TARBALLS, "vec_opt-0.1.0");
  await assertMatchesVector(copyDir(join(SOURCES, "vec_alias")), TARBALLS, "vec_alias-0.2.0");
});

test("vec_erl (rebar3 package behind a mix.exs shim) equals the sorted-order variant", async () => {
  for (const v of ["1.0.0", "1.1.0"]) {
    const src = await assertMatchesVector(copyDir(join(SOURCES, `vec_erl-${v}`)), VARIANTS, `vec_erl-${v}.app-src-first`);
    assert.equal(src.buildTool, "mix");
    // Only the order of two files differs from the vector Hex wrote on ext4.
    const hexOrder = vectorMetadata(join(TARBALLS, `vec_erl-${v}.metadata.config`)).files;
    assert.notDeepEqual(src.metadata.files, hexOrder);
    assert.deepEqual([...src.metadata.files].sort(), [...hexOrder].sort());
  }
});

test("dependencies declared without repo: get repository hexpm", async () => {
  const dir = copyDir(join(SOURCES, "vec_core"));
  cpSync(join(SOURCES, "variants", "vec_core-hexpm-deps.mix.exs"), join(dir, "mix.exs"));
  chmodSync(join(dir, "mix.exs"), 0o644);
  await assertMatchesVector(dir, VARIANTS, "vec_core-0.3.0.hexpm-deps");
});

test("file modes on disk are kept (0755 file, umask 077 copy)", async () => {
  const dir = copyDir(join(SOURCES, "vec_opt"));
  chmodSync(join(dir, "lib", "vec_opt.ex"), 0o755);
  await assertMatchesVector(dir, VARIANTS, "vec_opt-0.1.0.mode0755");
  await assertMatchesVector(copyDir(join(SOURCES, "vec_opt"), 0o600), VARIANTS, "vec_opt-0.1.0.umask077");
});

test("Mix: package options, globs, exclusions, empty directories and dep filtering", async () => {
  const dir = newDir({
    "mix.exs": `defmodule Globby.MixProject do
  use Mix.Project
  def project do
    [app: :globby, version: "2.0.0-rc.1", description: "  spaced  ", deps: deps(),
     package: [name: "globby_pkg", licenses: ["MIT", "Apache-2.0"], build_tools: ["mix", "make"],
               links: [Docs: "https://example.invalid/d", Home: "https://example.invalid"],
               files: ~w(lib/**/*.ex priv mix.exs {README,NOTES}.md empty),
               exclude_patterns: [~r/secret/], extra: %{"team" => :core, "ids" => [1, 2]}]]
  end
  defp deps do
    [{:a, "~> 1.0"}, {:b, "~> 2.0", only: :test}, {:c, "~> 3.0", only: [:dev, :prod], optional: true},
     {:d, git: "https://example.invalid/d.git"}, {:e, path: "../e"}, {:f, ">= 0.0.0", hex: :f_pkg, repo: "hexpm:acme"},
     {:g, "~> 1.0", organization: "acme"}]
  end
end
`,
    "lib/globby.ex": "",
    "lib/globby/deep/x.ex": "",
    "lib/globby/notes.txt": "",
    "lib/.hidden.ex": "",
    "priv/.keep": "",
    "priv/secret.key": "",
    "priv/static/app.js": "",
    "README.md": "",
    "NOTES.md": "",
    "CHANGELOG.md": "",
  });
  mkdirSync(join(dir, "empty"));
  const src = await readPackageDir(dir);
  assert.equal(src.buildTool, "mix");
  const m = src.metadata;
  assert.equal(m.name, "globby_pkg");
  assert.equal(m.app, "globby");
  assert.equal(m.version, "2.0.0-rc.1");
  assert.equal(m.description, "spaced");
  assert.equal(m.elixir, undefined);
  assert.deepEqual(m.licenses, ["MIT", "Apache-2.0"]);
  assert.deepEqual(m.buildTools, ["mix", "make"]);
  assert.deepEqual(m.links, [["Docs", "https://example.invalid/d"], ["Home", "https://example.invalid"]]);
  assert.deepEqual(m.files, [
    "lib/globby.ex",
    "lib/globby/deep/x.ex",
    "priv",
    "priv/.keep",
    "priv/static",
    "priv/static/app.js",
    "mix.exs",
    "NOTES.md",
    "README.md",
    "empty",
  ]);
  assert.deepEqual(
    src.files.map((f) => [f.path, f.mode]),
    [
      ["lib/globby.ex", 0o100644],
      ["lib/globby/deep/x.ex", 0o100644],
      ["priv/.keep", 0o100644],
      ["priv/static/app.js", 0o100644],
      ["mix.exs", 0o100644],
      ["NOTES.md", 0o100644],
      ["README.md", 0o100644],
      ["empty", 0o040755],
    ],
  );
  assert.deepEqual(m.requirements, [
    { name: "a", app: "a", requirement: "~> 1.0", optional: false, repository: "hexpm" },
    { name: "c", app: "c", requirement: "~> 3.0", optional: true, repository: "hexpm" },
    { name: "f_pkg", app: "f", requirement: ">= 0.0.0", optional: false, repository: "acme" },
    { name: "g", app: "g", requirement: "~> 1.0", optional: false, repository: "acme" },
  ]);
  assert.equal(m.other.length, 1);
  assert.equal(m.other[0][0], "extra");
  const extra = m.other[0][1];
  assert.equal(extra.type, "list");
  if (extra.type === "list") {
    // A map becomes a list of {Key, Value} in key order, atoms become binaries.
    assert.deepEqual(
      extra.items.map((p) => (p.type === "tuple" && p.items[0].type === "binary" ? p.items[0].value.toString() : "?")),
      ["ids", "team"],
    );
    const team = extra.items[1].type === "tuple" ? extra.items[1].items[1] : undefined;
    assert.deepEqual(team, { type: "binary", value: Buffer.from("core") });
  }
});

test("Mix: what Hex refuses is refused, with the mix.exs named", async () => {
  const project = (body: string): string =>
    newDir({ "mix.exs": `defmodule R${counter}.MixProject do\n  use Mix.Project\n  def project do\n    ${body}\n  end\nend\n`, "lib/x.ex": "" });
  const cases: [string, RegExp][] = [
    ['[app: :r, version: "1.0.0", deps: [{:a, "~> 1.0", override: true}]]', /mix\.exs: cannot build a package with `override:` set for dependency a/],
    ['[app: :r, version: "1.0.0", deps: [{:a, hex: :b}]]', /mix\.exs: Hex dependency a has no version requirement/],
    ['[app: :r, version: "1.0.0", apps_path: "apps"]', /mix\.exs: umbrella projects cannot be packaged/],
    ['[version: "1.0.0"]', /mix\.exs: the project has no :app/],
    ['[app: :r, version: "1.0.0", package: [files: ["nothing*"]]]', /mix\.exs: the package has no files/],
  ];
  for (const [body, re] of cases) {
    await assert.rejects(readPackageDir(project(body)), (e: unknown) => e instanceof BeamixError && re.test(e.message), body);
  }
});

test("a broken mix.exs reports the first line of Elixir's error", async () => {
  const dir = newDir({ "mix.exs": "defmodule Broken.MixProject do\n  use Mix.Project\n  def project do [app: :broken,\n end\nend\n" });
  await assert.rejects(readPackageDir(dir), (e: unknown) => {
    assert.ok(e instanceof BeamixError);
    assert.match(e.message, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/mix\\.exs: \\(SyntaxError\\) .*mix\\.exs:4:2: unexpected reserved word: end`));
    assert.ok(!e.message.includes("\n"));
    return true;
  });
  const undefinedFun = newDir({ "mix.exs": "defmodule Broken2.MixProject do\n  use Mix.Project\n  def project, do: [app: nope()]\nend\n" });
  await assert.rejects(readPackageDir(undefinedFun), /mix\.exs: \(CompileError\) .*undefined function nope\/0/);
});

test("rebar3 project: .app.src, rebar.config deps and rebar.lock", async () => {
  const dir = copyDir(join(SOURCES, "vec_erl-1.0.0"));
  rmSync(join(dir, "mix.exs"));
  writeFileSync(
    join(dir, "rebar.config"),
    `{erl_opts, [debug_info]}.
{deps, [cowlib, {ranch, "~> 1.8"}, {gun_alias, {pkg, gun}}, {jsx, "3.1.0", {pkg, jsx_pkg}}]}.
{profiles, [{test, [{deps, [{meck, {git, "https://example.invalid/meck.git", {tag, "1"}}}]}]}]}.
`,
  );
  writeFileSync(
    join(dir, "rebar.lock"),
    `{"1.2.0",
[{<<"cowlib">>,{pkg,<<"cowlib">>,<<"2.12.1">>},0},
 {<<"gun_alias">>,{pkg,<<"gun">>,<<"2.0.1">>},0},
 {<<"ranch">>,{pkg,<<"ranch">>,<<"1.8.0">>},0}]}.
[{pkg_hash,[]}].
`,
  );
  writeFileSync(join(dir, "src", "vec_erl.erl~"), "");
  writeFileSync(join(dir, "NOTICE"), "");
  const src = await readPackageDir(dir);
  assert.equal(src.buildTool, "rebar3");
  const m = src.metadata;
  assert.equal(m.name, "vec_erl");
  assert.equal(m.version, "1.0.0");
  assert.equal(m.description, "Tiny Erlang library used as a Hex test vector");
  assert.deepEqual(m.licenses, ["Apache-2.0"]);
  assert.deepEqual(m.buildTools, ["rebar3"]);
  assert.deepEqual(m.requirements, [
    { name: "cowlib", app: "cowlib", requirement: "~>2.12.1", optional: false, repository: "hexpm" },
    { name: "ranch", app: "ranch", requirement: "~> 1.8", optional: false, repository: "hexpm" },
    { name: "gun", app: "gun_alias", requirement: "~>2.0.1", optional: false, repository: "hexpm" },
    { name: "jsx_pkg", app: "jsx", requirement: "3.1.0", optional: false, repository: "hexpm" },
  ]);
  assert.deepEqual(m.files, [
    "src",
    "src/vec_erl.app.src",
    "src/vec_erl.erl",
    "include",
    "include/vec_erl.hrl",
    "rebar.config",
    "rebar.lock",
    "README.md",
    "NOTICE",
  ]);
  assert.deepEqual(src.files.map((f) => f.path), m.files.filter((f) => f !== "src" && f !== "include"));

  writeFileSync(join(dir, "rebar.config"), `{deps, [{meck, {git, "https://example.invalid/meck.git", {tag, "1"}}}]}.\n`);
  await assert.rejects(readPackageDir(dir), /rebar\.config: dependency meck is not a Hex package/);
  writeFileSync(join(dir, "rebar.config"), `{deps, [unlocked]}.\n`);
  await assert.rejects(readPackageDir(dir), /dependency unlocked has no version requirement and rebar\.lock does not lock it/);
  writeFileSync(join(dir, "rebar.config"), `{deps, [}.\n`);
  await assert.rejects(readPackageDir(dir), /rebar\.config: .*syntax error/);
});

test("rebar3 project: a computed vsn is refused", async () => {
  const dir = newDir({ "rebar.config": "{deps, []}.\n", "src/x.app.src": "{application, x, [{vsn, git}, {description, \"x\"}]}.\n", "src/x.erl": "" });
  await assert.rejects(readPackageDir(dir), /x\.app\.src: vsn must be a literal version string/);
});

test("erlang.mk project: Makefile variables, hex deps, erlang.mk's file list", async () => {
  const dir = newDir({
    Makefile: [
      "PROJECT = wire",
      "PROJECT_DESCRIPTION = Wire frames \\",
      "  over TCP",
      "PROJECT_VERSION = 1.2.0",
      "LOCAL_DEPS = crypto",
      "DEPS = cowlib ranch",
      "dep_cowlib = hex 2.12.1",
      "dep_ranch = hex 1.8.0 ranch_pkg",
      "hex_req_ranch = ~> 1.8",
      "# a comment",
      "all:",
      "\t@echo DEPS = nothing",
      "include erlang.mk",
      "",
    ].join("\n"),
    "erlang.mk": "# stand-in\n",
    "ebin/wire.app": '{application, wire, [{vsn, "0.9.0"}, {description, "stale"}]}.\n',
    "src/wire.app.src": '{application, wire, [{vsn, ""}, {description, ""}, {licenses, ["ISC"]}, {links, [{"Z", "z"}, {"A", "a"}]}]}.\n',
    "src/wire.erl": "",
    "src/sub/wire_sub.erl": "",
    "src/.wire.swp": "",
    "include/wire.hrl": "",
    "include/notes.txt": "",
    "priv/data/x.bin": "",
    "test/wire_tests.erl": "",
    "README.md": "",
    "LICENSE": "",
    "rebar.config": "{deps, []}.\n",
  });
  const src = await readPackageDir(dir);
  assert.equal(src.buildTool, "make");
  const m = src.metadata;
  assert.equal(m.name, "wire");
  assert.equal(m.version, "1.2.0");
  assert.equal(m.description, "Wire frames over TCP");
  assert.deepEqual(m.licenses, ["ISC"]);
  assert.deepEqual(m.links, [["A", "a"], ["Z", "z"]]);
  assert.deepEqual(m.buildTools, ["make", "rebar3"]);
  assert.deepEqual(m.requirements, [
    { name: "cowlib", app: "cowlib", requirement: "2.12.1", optional: false, repository: "hexpm" },
    { name: "ranch_pkg", app: "ranch", requirement: "~> 1.8", optional: false, repository: "hexpm" },
  ]);
  assert.deepEqual(m.files, [
    "ebin/wire.app",
    "erlang.mk",
    "include/wire.hrl",
    "LICENSE",
    "Makefile",
    "priv/data/x.bin",
    "README.md",
    "rebar.config",
    "src/sub/wire_sub.erl",
    "src/wire.app.src",
    "src/wire.erl",
  ]);
  assert.deepEqual(src.files.map((f) => f.path), m.files);

  writeFileSync(join(dir, "Makefile"), "PROJECT = wire\nPROJECT_VERSION = 1.0.0\nDEPS = gun\ndep_gun = git https://example.invalid/gun 2.0\n");
  await assert.rejects(readPackageDir(dir), /Makefile: dependency gun is fetched with git/);
  writeFileSync(join(dir, "Makefile"), "PROJECT = wire\nV = 1\nPROJECT_VERSION = $(V).0\n");
  await assert.rejects(readPackageDir(dir), /Makefile: PROJECT_VERSION refers to other make variables/);
});

test("not a package directory, symlinks", async () => {
  const empty = newDir({ "notes.txt": "" });
  await assert.rejects(readPackageDir(empty), (e: unknown) => e instanceof BeamixError && e.message.startsWith(`${empty} is not a package directory`));
  await assert.rejects(readPackageDir(join(empty, "missing")), /is not a directory/);
  const dir = copyDir(join(SOURCES, "vec_opt"));
  symlinkSync("vec_opt.ex", join(dir, "lib", "link.ex"));
  await assert.rejects(readPackageDir(dir), /link\.ex is a symbolic link/);
});
