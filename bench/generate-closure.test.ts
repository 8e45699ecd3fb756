import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { packDirectory } from "../src/project/hex-pack.ts";
import { generateClosure, type GeneratedClosure } from "./generate-closure.ts";
import { mixBaseline } from "./mix-baseline.ts";

async function treeDigest(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(root, p), createHash("sha256").update(await readFile(p)).digest("hex"));
    }
  };
  await walk(root);
  return out;
}

// The Phoenix 1.7 closure's graph (DESIGN.md), under the generator's names.
const EXPECTED: Record<string, { build: string; deps: string[] }> = {
  gen_telemetry: { build: "rebar3", deps: [] },
  gen_mime: { build: "mix", deps: [] },
  gen_plug_crypto: { build: "mix", deps: [] },
  gen_plug: { build: "mix", deps: ["gen_mime", "gen_plug_crypto", "gen_telemetry"] },
  gen_pubsub: { build: "mix", deps: [] },
  gen_html: { build: "mix", deps: [] },
  gen_template: { build: "mix", deps: ["gen_html?"] },
  gen_websock: { build: "mix", deps: [] },
  gen_castore: { build: "mix", deps: [] },
  gen_ranch: { build: "make", deps: [] },
  gen_cowlib: { build: "make", deps: [] },
  gen_cowboy: { build: "make", deps: ["gen_cowlib", "gen_ranch"] },
  gen_cowboy_telemetry: { build: "rebar3", deps: ["gen_cowboy", "gen_telemetry"] },
  gen_plug_cowboy: { build: "mix", deps: ["gen_cowboy", "gen_cowboy_telemetry", "gen_plug"] },
  gen_websock_adapter: { build: "mix", deps: ["gen_plug", "gen_websock", "gen_plug_cowboy?"] },
  gen_jason: { build: "mix", deps: [] },
  gen_phoenix: {
    build: "mix",
    deps: ["gen_plug", "gen_plug_crypto", "gen_telemetry", "gen_pubsub", "gen_template", "gen_websock_adapter", "gen_castore", "gen_plug_cowboy?", "gen_jason?", "gen_html?"],
  },
};

describe("generateClosure", () => {
  let dir: string;
  let closure: GeneratedClosure;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamix-gen-test-"));
    closure = await generateClosure(join(dir, "a"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("is deterministic for a seed and differs for another seed", async () => {
    const again = await generateClosure(join(dir, "b"));
    assert.deepEqual(await treeDigest(join(dir, "b")), await treeDigest(join(dir, "a")));
    assert.equal(again.modules, closure.modules);
    await generateClosure(join(dir, "c"), { seed: 7 });
    const other = await treeDigest(join(dir, "c"));
    const same = [...(await treeDigest(join(dir, "a")))].filter(([p, h]) => other.get(p) === h && p.endsWith(".ex"));
    const exFiles = [...other.keys()].filter((p) => p.endsWith(".ex")).length;
    assert.ok(same.length < exFiles / 2, `${same.length} of ${exFiles} .ex files identical across seeds`);
  });

  test("has the Phoenix closure's 17 packages, build tools and dependency graph", () => {
    assert.equal(closure.packages.length, 17);
    for (const p of closure.packages) {
      const want = EXPECTED[p.name];
      assert.ok(want, `unexpected package ${p.name}`);
      assert.equal(p.build, want.build, p.name);
      assert.deepEqual(
        p.deps.map((d) => d.package + (d.optional ? "?" : "")).sort(),
        [...want.deps].sort(),
        p.name,
      );
    }
    // Dependency order: every dependency comes before its dependents.
    const index = new Map(closure.packages.map((p, i) => [p.name, i]));
    for (const p of closure.packages) for (const d of p.deps) assert.ok(index.get(d.package)! < index.get(p.name)!, `${d.package} after ${p.name}`);
  });

  test("the consumer's closure (Mix's optional-dependency rule) is all 17 packages", () => {
    const byName = new Map(closure.packages.map((p) => [p.name, p]));
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const d of byName.get(name)!.deps) if (!d.optional) visit(d.package);
    };
    closure.consumer.deps.forEach((d) => visit(d.package));
    assert.equal(seen.size, 17);
  });

  test("has a few hundred modules, in proportions like the real closure's", () => {
    assert.ok(closure.modules >= 380 && closure.modules <= 600, `${closure.modules} modules`);
    const m = new Map(closure.packages.map((p) => [p.name, p.modules]));
    assert.ok(m.get("gen_phoenix")! > m.get("gen_plug")!);
    assert.ok(m.get("gen_plug")! > m.get("gen_cowboy")!);
    assert.ok(m.get("gen_cowboy")! > m.get("gen_cowlib")! && m.get("gen_cowlib")! > m.get("gen_ranch")!);
    assert.equal(m.get("gen_mime"), 1);
  });

  test("every package packs with beamix's packer into the declared metadata", async () => {
    for (const p of closure.packages) {
      const { metadata } = await packDirectory(p.dir);
      assert.equal(metadata.name, p.name);
      assert.equal(metadata.version, p.version);
      assert.equal(metadata.app, p.name);
      assert.deepEqual(metadata.buildTools, [p.build], p.name);
      assert.deepEqual(
        metadata.requirements.map((r) => [r.name, r.requirement, r.optional]).sort(),
        p.deps.map((d) => [d.package, d.requirement, d.optional]).sort(),
        p.name,
      );
      if (p.build === "make") {
        assert.ok(metadata.files.includes(`ebin/${p.name}.app`), `${p.name} packs its committed .app`);
        assert.ok(metadata.files.some((f) => f.startsWith("src/")), `${p.name} packs src/`);
      }
    }
  });

  test("has the shapes the benchmark needs", async () => {
    const read = (pkg: string, rel: string) => readFile(join(closure.packages.find((p) => p.name === pkg)!.dir, rel), "utf8");
    assert.match(await read("gen_mime", "lib/gen_mime.ex"), /Application\.compile_env\(:gen_mime, :types/);
    assert.match(await read("gen_plug", "lib/gen_plug/conn/status.ex"), /Application\.compile_env\(:gen_plug, :statuses/);
    assert.match(await read("gen_websock_adapter", "lib/gen_websock_adapter/cowboy_adapter.ex"), /^if Code\.ensure_loaded\?\(:gen_cowboy_websocket\) do/);
    assert.match(await read("gen_phoenix", "lib/gen_phoenix/json.ex"), /if Code\.ensure_loaded\?\(GenJason\) do/);
    assert.match(await read("gen_jason", "lib/gen_jason/encoder.ex"), /defprotocol GenJason\.Encoder[\s\S]*defimpl GenJason\.Encoder, for: Map/);
    assert.match(await read("gen_telemetry", "include/gen_telemetry.hrl"), /-record\(gen_telemetry_handler/);
    assert.match(await read("gen_telemetry", "src/gen_telemetry.app.src"), /\{vsn, "1\.2\.1"\}/);
    const makefile = await read("gen_cowboy", "Makefile");
    assert.match(makefile, /^DEPS = gen_cowlib gen_ranch$/m);
    assert.match(makefile, /^dep_gen_cowlib = hex 2\.13\.0$/m);
    assert.match(await read("gen_cowboy", "ebin/gen_cowboy.app"), /\{vsn, "0\.0\.1"\}/, "the committed .app is stale");
    assert.match(await read("gen_cowboy", `src/${(await readdir(join(closure.packages.find((p) => p.name === "gen_cowboy")!.dir, "src"))).find((f) => f.startsWith("gen_cowboy_stream_"))}`), /-include_lib\("gen_cowlib\/include\/gen_cow_inline\.hrl"\)/);
    assert.match(await read("gen_phoenix", "lib/gen_phoenix/error_pages.ex"), /embed_templates\("error_pages\/\*\.html\.eex"\)/);
  });
});

// Compiles a small version of the closure the way the baseline does: the generated code must
// build with Mix, rebar3 and make without a single warning (make packages use -Werror).
describe("generated code compiles", () => {
  test("with mix deps.compile, warning-free, at scale 0.15", async () => {
    const dir = await mkdtemp(join(tmpdir(), "beamix-gen-compile-"));
    try {
      const closure = await generateClosure(join(dir, "closure"), { scale: 0.15 });
      const res = await mixBaseline(
        { consumerDir: closure.consumer.dir, packageDirs: closure.packages.map((p) => p.dir), workDir: join(dir, "work") },
        { noopRuns: 1 },
      );
      assert.equal(res.beams, closure.modules, "one .beam per generated module");
      assert.equal(res.compiledFiles, closure.modules + closure.packages.length, "and one .app per package");
      const logs = join(dir, "work", "logs");
      for (const f of await readdir(logs)) {
        const text = await readFile(join(logs, f), "utf8");
        assert.doesNotMatch(text, /warning:/i, `${f} has a warning:\n${text.slice(text.search(/warning:/i), text.search(/warning:/i) + 600)}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
