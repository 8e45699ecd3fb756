// `node bench/run.ts`: the benchmark of the issue, on two corpora, in one run.
//   (a) cold build of each closure: beamix against `mix deps.compile` of the same packages as
//       the dependencies of one Mix project (goal: beamix at most 1.1x Mix);
//   (b) a no-op build of the already-built closure: beamix against a no-op `mix compile` of
//       that project (goal: under 0.2 s and under a third of Mix's).
// Corpora: the fixture closure (test/fixtures, the closure of the `webapp` consumer) and a
// generated closure with the Phoenix closure's shape and size (bench/generate-closure.ts).
//
// Then binary substitutes (bench/substitute-bench.ts, bench/serve-load.ts): realizing the fixture
// closure from a warm loopback cache against building it cold (goal: at least 30x faster; the
// generated closure is measured the same way), the time to check 100 items already present
// (goal: under 50 ms), and a 16-client load test.
//
// Options: --keep (keep the temporary directory), --scale N and --seed N (generator),
// --noop-runs N (no-op runs; the median is reported), --only fixtures|generated|substitutes|deps|identity|startup,
// --startup-runs N (runs of each start-up measurement; the median is reported).
// Last, `beamix deps` from a warm loopback cache + `mix compile` against `mix deps.compile` +
// `mix compile` (goals: 20x for the dependency step, 5x in all) and the warm path against a
// `tar --zstd -x` restore of the same deps/ and _build (issue 17: a fresh checkout at most 2x,
// from a loopback cache into an empty store at most 3x, nothing changed under 0.15 s; each from
// the sources and from the installed npm package), for the fixture webapp and the generated
// closure; and the start-up of the command from the sources and
// packed by npm pack, side by side (bench/startup.ts).
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_SCALE, DEFAULT_SEED } from "./generate-closure.ts";
import { fixtureCorpus, generatedCorpus, type Corpus } from "./corpora.ts";

export { fixtureCorpus, generatedCorpus, type Corpus };
import { mixBaseline, type MixBaselineResult } from "./mix-baseline.ts";
import { measureBeamixBuild } from "./beamix-build.ts";
import { measureSubstitutes, type SubstituteTimes } from "./substitute-bench.ts";
import { cacheRecords, formatServeLoad, measureServeAbuse, measureServeLoad, serveAbuseRows, startServeProcess } from "./serve-load.ts";
import { readPublicKeyFile } from "../src/signing/keys.ts";
import { measureDeps, type DepsCorpus } from "./deps-bench.ts";
import { measureIdentity } from "./identity-bench.ts";
import { measureStartup, packedForm, sourceForm, startupTable } from "./startup.ts";
import { generateClosure } from "./generate-closure.ts";


// What the beamix side reports for one corpus.
export interface BeamixTimes {
  coldSeconds: number; // building the whole closure from nothing
  noopSeconds: number; // building it again when everything is built (median)
}

// beamix builds every package of the closure through the CLI, in the sandbox, from a signed
// registry on loopback, with the consumer's compile-time config (bench/beamix-build.ts).
export async function measureBeamix(corpus: Corpus, workDir: string, noopRuns: number): Promise<BeamixTimes | null> {
  return measureBeamixBuild(corpus, workDir, noopRuns);
}



const fmt = (s: number | null | undefined): string => (s === null || s === undefined ? "TODO(beamix build)" : `${s.toFixed(2)} s`);

function ratio(beamix: number | null | undefined, mix: number): string {
  return beamix === null || beamix === undefined ? "-" : `${(beamix / mix).toFixed(2)}x`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

interface Measured {
  corpus: Corpus;
  mix: MixBaselineResult;
  beamix: BeamixTimes | null;
}

function report(results: Measured[]): string {
  const rows = [["corpus", "measurement", "mix", "beamix", "beamix/mix", "goal"]];
  for (const { corpus, mix, beamix } of results) {
    rows.push([corpus.name, `cold build (${mix.compiledFiles} files)`, fmt(mix.coldSeconds), fmt(beamix?.coldSeconds), ratio(beamix?.coldSeconds, mix.coldSeconds), "<= 1.10x"]);
    rows.push([corpus.name, "no-op build (median)", fmt(mix.noopMedianSeconds), fmt(beamix?.noopSeconds), ratio(beamix?.noopSeconds, mix.noopMedianSeconds), "< 0.2 s and < 0.33x"]);
  }
  const notes: string[] = [];
  for (const { corpus, mix } of results) {
    notes.push(`${corpus.name}:`);
    for (const n of corpus.notes) notes.push(`  ${n}`);
    notes.push(`  mix: ${mix.commands.join("; ")}`);
    notes.push(`  mix compiled ${mix.beams} .beam files; no-op runs: ${mix.noopSeconds.map((s) => s.toFixed(2)).join(", ")} s`);
    if (mix.addedTopLevelDeps.length > 0) notes.push(`  added as top-level deps (needed only by make packages): ${mix.addedTopLevelDeps.join(", ")}`);
    if (mix.phases.length > 0) notes.push(`  mix deps.compile ran in ${mix.phases.length} phases (Mix's order put a make package before its dependencies)`);
  }
  return `${table(rows)}\n\n${notes.join("\n")}`;
}

// Binary substitutes: the fixture closure from a warm loopback cache against a cold build, the
// checks of 100 present items and 100 records, and 16 clients loading one beamix serve. The
// generated closure is realized from a cache too, for the same ratio at the Phoenix closure's size.
// Then `beamix serve` under abuse: its peak RSS with --store and --cache under 256 clients at
// once, and the success rate of legitimate requests while 300 slowloris connections are open.
async function substitutesSection(dir: string, generated: () => Promise<Corpus>): Promise<string> {
  await mkdir(dir, { recursive: true });
  process.stderr.write(`substitutes: in ${dir}\n`);
  const s: SubstituteTimes = await measureSubstitutes(fixtureCorpus(), join(dir, "fixtures"));
  const server = await startServeProcess(s.cacheDir);
  let load: string;
  try {
    const result = await measureServeLoad({ url: server.url, records: await cacheRecords(s.cacheDir), trustedKeys: await readPublicKeyFile(s.publicKeyPath), workDir: join(dir, "load") });
    load = formatServeLoad(result);
  } finally {
    await server.stop();
  }
  const abuse = await measureServeAbuse({ cacheDir: s.cacheDir, storeDir: s.storeDir, secretKeyPath: s.secretKeyPath, workDir: join(dir, "abuse") });
  const g: SubstituteTimes = await measureSubstitutes(await generated(), join(dir, "generated"));
  const row = (what: string, t: SubstituteTimes) => [
    `${what}: realize from a loopback cache (${t.substitutedItems} substituted, ${t.builtItems} built)`,
    `cold build ${fmt(t.coldSeconds)}`,
    fmt(t.substituteSeconds),
    `${(t.coldSeconds / t.substituteSeconds).toFixed(1)}x faster`,
    what === "fixture closure" ? ">= 30x faster" : "-",
  ];
  return [
    table([
      ["substitutes", "baseline", "beamix", "ratio", "goal"],
      row("fixture closure", s),
      row("generated closure", g),
      ["check 100 items already present", "-", `${s.presentCheckMs.toFixed(1)} ms`, "-", "< 50 ms"],
      ["parse and verify 100 signed records", "-", `${s.verifyRecordsMs.toFixed(1)} ms`, "-", "-"],
      ...serveAbuseRows(abuse),
    ]),
    "",
    "load test: 16 concurrent clients realize the fixture closure from one `beamix serve` (a child process):",
    load,
  ].join("\n");
}

// beamix deps from a warm loopback cache into a fresh store, then mix compile, against
// mix deps.compile and mix compile from scratch, and the warm path against a tarball restore, for
// the fixture webapp and the generated Phoenix-shaped closure (bench/deps-bench.ts).
async function depsSection(dir: string, seed: number, scale: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const g = await generateClosure(join(dir, "generated-closure"), { seed, scale });
  const corpora: [string, DepsCorpus | undefined][] = [
    ["fixture webapp", undefined],
    ["generated closure", { consumerDir: g.consumer.dir, app: g.consumer.name, packageDirs: g.packages.map((p) => p.dir), roots: g.consumer.deps.map((d) => ({ name: d.package, requirement: d.requirement })) }],
  ];
  const tables: string[] = [];
  // What users run (npm install): the short figures are taken with it too.
  const packed = await packedForm(join(dir, "packed"));
  for (const [name, corpus] of corpora) {
    process.stderr.write(`deps (${name}): in ${join(dir, name.replace(/ /g, "-"))}\n`);
    const r = await measureDeps(join(dir, name.replace(/ /g, "-")), corpus, packed);
    const mixTotal = r.mixDepsCompileSeconds + r.mixCompileAfterMixSeconds;
    const beamixTotal = r.beamixDepsSeconds + r.mixCompileAfterBeamixSeconds;
    const ofTar = (s: number) => `${(s / r.tarRestoreSeconds).toFixed(1)}x the restore`;
    tables.push(
      table([
        [`beamix deps (${name})`, "mix / tar", "beamix", "ratio", "goal"],
        ["dependency step", `mix deps.compile ${fmt(r.mixDepsCompileSeconds)}`, `beamix deps ${fmt(r.beamixDepsSeconds)}`, `${(r.mixDepsCompileSeconds / r.beamixDepsSeconds).toFixed(1)}x faster`, ">= 20x"],
        ["then mix compile", fmt(r.mixCompileAfterMixSeconds), fmt(r.mixCompileAfterBeamixSeconds), "-", "-"],
        ["whole sequence", fmt(mixTotal), fmt(beamixTotal), `${(mixTotal / beamixTotal).toFixed(1)}x faster`, ">= 5x"],
        ["warm, fresh checkout (store complete)", `tar --zstd -x ${fmt(r.tarRestoreSeconds)}`, fmt(r.warmFreshCheckoutSeconds), ofTar(r.warmFreshCheckoutSeconds), "<= 2x"],
        ["from a loopback cache, empty store", `tar --zstd -x ${fmt(r.tarRestoreSeconds)}`, fmt(r.beamixDepsSeconds), ofTar(r.beamixDepsSeconds), "<= 3x"],
        ["same, without the project's record", `tar --zstd -x ${fmt(r.tarRestoreSeconds)}`, fmt(r.emptyStoreFullPathSeconds), ofTar(r.emptyStoreFullPathSeconds), "-"],
        ["nothing changed", "-", fmt(r.noChangeSeconds), "-", "< 0.15 s"],
        ...(r.packed
          ? [
              ["installed package: fresh checkout", `tar --zstd -x ${fmt(r.tarRestoreSeconds)}`, fmt(r.packed.warmFreshCheckoutSeconds), ofTar(r.packed.warmFreshCheckoutSeconds), "<= 2x"],
              ["installed package: empty store", `tar --zstd -x ${fmt(r.tarRestoreSeconds)}`, fmt(r.packed.emptyStoreSeconds), ofTar(r.packed.emptyStoreSeconds), "<= 3x"],
              ["installed package: nothing changed", "-", fmt(r.packed.noChangeSeconds), "-", "< 0.15 s"],
            ]
          : []),
        ["floor: node -e 0", "-", fmt(r.nodeStartSeconds), ofTar(r.nodeStartSeconds), "-"],
      ]),
    );
  }
  return tables.join("\n\n");
}

// One identity across commands, on the generated closure (bench/identity-bench.ts).
async function identitySection(dir: string, seed: number, scale: number): Promise<string> {
  process.stderr.write(`identity: in ${dir}\n`);
  const g = await generateClosure(join(dir, "generated-closure"), { seed, scale });
  const r = await measureIdentity(join(dir, "run"), {
    consumerDir: g.consumer.dir,
    app: g.consumer.name,
    packageDirs: g.packages.map((p) => p.dir),
    roots: g.consumer.deps.map((d) => ({ name: d.package, requirement: d.requirement })),
  });
  return table([
    ["one identity (generated closure)", "beamix", "goal"],
    ["deps after install", `${r.builtByDepsAfterInstall} built`, "0 built"],
    ["deps from a publish cache", `${r.substitutedByDepsFromPublish} substituted of ${r.packages}`, `${r.packages} of ${r.packages}`],
  ]);
}

// `beamix --version`, `build --help` and a no-op build of the generated closure, from the sources
// and from the packed package (bench/startup.ts).
async function startupSection(dir: string, generated: () => Promise<Corpus>, runs: number): Promise<string> {
  process.stderr.write(`startup: in ${dir}\n`);
  const forms = [sourceForm(), await packedForm(join(dir, "packed"))];
  const r = await measureStartup(await generated(), join(dir, "run"), forms, runs);
  return table(startupTable(r, forms));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      keep: { type: "boolean", default: false },
      scale: { type: "string", default: String(DEFAULT_SCALE) },
      seed: { type: "string", default: String(DEFAULT_SEED) },
      "noop-runs": { type: "string", default: "3" },
      only: { type: "string" },
      "startup-runs": { type: "string", default: "11" },
    },
  });
  const noopRuns = Number(values["noop-runs"]);
  const work = await mkdtemp(join(tmpdir(), "beamix-bench-"));
  try {
    const corpora: Corpus[] = [];
    let generatedOnce: Promise<Corpus> | undefined;
    const generated = () => (generatedOnce ??= generatedCorpus(join(work, "generated-closure"), Number(values.seed), Number(values.scale)));
    if (values.only === undefined || values.only === "fixtures") corpora.push(fixtureCorpus());
    if (values.only === undefined || values.only === "generated") corpora.push(await generated());
    const results: Measured[] = [];
    for (const corpus of corpora) {
      const mixWork = join(work, corpus.name, "mix");
      await mkdir(mixWork, { recursive: true });
      process.stderr.write(`${corpus.name}: mix baseline in ${mixWork}\n`);
      const mix = await mixBaseline({ consumerDir: corpus.consumerDir, packageDirs: corpus.packageDirs, workDir: mixWork }, { noopRuns });
      const beamixWork = join(work, corpus.name, "beamix");
      await mkdir(beamixWork, { recursive: true });
      const beamix = await measureBeamix(corpus, beamixWork, noopRuns);
      results.push({ corpus, mix, beamix });
    }
    if (results.length > 0) process.stdout.write(`${report(results)}\n`);
    if (values.only === undefined || values.only === "substitutes") {
      process.stdout.write(`\n${await substitutesSection(join(work, "substitutes"), generated)}\n`);
    }
    if (values.only === undefined || values.only === "deps") {
      process.stdout.write(`\n${await depsSection(join(work, "deps"), Number(values.seed), Number(values.scale))}\n`);
    }
    if (values.only === undefined || values.only === "identity") {
      process.stdout.write(`\n${await identitySection(join(work, "identity"), Number(values.seed), Number(values.scale))}\n`);
    }
    if (values.only === undefined || values.only === "startup") {
      process.stdout.write(`\n${await startupSection(join(work, "startup"), generated, Number(values["startup-runs"]))}\n`);
    }
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
