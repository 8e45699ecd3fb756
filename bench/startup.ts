// Start-up of the beamix command in its two forms, side by side: from the sources (what
// bin/beamix runs: src/cli/main.js, TypeScript stripped by Node, from its compile cache after the
// first run) and packed (what `npm pack` makes and `npm install -g` installs: the esbuild bundle
// of scripts/build.ts, run by bin/beamix.js). For each: `beamix --version`, `beamix build
// --help`, and a no-op `beamix build` of a whole closure (everything already in the store, so
// the run is start-up, resolution against the loopback registry and store look-ups), with `node
// -e 0` as the floor. Every command runs once untimed first (the compile caches are warm, as on
// any machine that ran beamix once), then the forms take turns; the median and the fastest run
// are reported (on a shared 2-core machine the fastest is the better estimate of the time
// without other load, and other load hits both forms alike).
import { mkdir, symlink } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BEAMIX_MAIN, checked, consumerConfigArgs, median, repoArgs, serveCorpus, type BeamixForm } from "./beamix-build.ts";
import { cleanEnv, run, type RunResult } from "./mix-baseline.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

export type StartupForm = BeamixForm;

export function sourceForm(): StartupForm {
  return { name: "source", command: [process.execPath, "--no-warnings=ExperimentalWarning", BEAMIX_MAIN], env: {} };
}

// npm pack (which runs the build) and npm install -g into workDir/prefix, offline: the package
// has no dependencies. Its bin runs with the `node` on PATH: this Node.
export async function packedForm(workDir: string): Promise<StartupForm> {
  await mkdir(workDir, { recursive: true });
  const packed = checked(await run("npm", ["pack", "--silent", "--pack-destination", workDir], repoRoot, process.env), "npm pack");
  const tarball = join(workDir, packed.output.trim().split("\n").pop()!.trim());
  const prefix = join(workDir, "prefix");
  checked(await run("npm", ["install", "-g", "--offline", "--no-audit", "--no-fund", "--prefix", prefix, tarball], workDir, process.env), "npm install -g");
  const nodeBin = join(workDir, "node-bin");
  await mkdir(nodeBin, { recursive: true });
  await symlink(process.execPath, join(nodeBin, "node"));
  return { name: "packed", command: [join(prefix, "bin", "beamix")], env: { PATH: [nodeBin, process.env.PATH ?? ""].join(delimiter) } };
}

export interface StartupRow {
  what: string;
  seconds: Map<string, number>; // form name → median seconds
  fastest: Map<string, number>; // form name → the fastest run's seconds
}

export interface StartupResult {
  packages: number;
  runs: number;
  rows: StartupRow[];
}

export async function measureStartup(corpus: { packageDirs: string[]; consumerDir: string }, workDir: string, forms: StartupForm[], runs: number): Promise<StartupResult> {
  const served = await serveCorpus(corpus.packageDirs, join(workDir, "repo"));
  try {
    const env = (form: StartupForm) =>
      cleanEnv({ BEAMIX_CACHE_DIR: join(workDir, "cache"), BEAMIX_CONFIG_DIR: join(workDir, "config"), HOME: join(workDir, "home"), ...form.env });
    const beamix = (form: StartupForm, args: string[]): Promise<RunResult> => run(form.command[0], [...form.command.slice(1), ...args], workDir, env(form));
    const buildArgs = ["build", ...served.packages, "--store", join(workDir, "store"), ...repoArgs(served), ...(await consumerConfigArgs(corpus.consumerDir)), "--no-substitutes"];
    // The closure is built once (by the first form): both forms compute the same derivations,
    // so for every form the timed builds are no-ops.
    checked(await beamix(forms[0], buildArgs), `cold beamix build (${forms[0].name})`);
    const commands: { what: string; args: string[] | null }[] = [
      { what: "node -e 0 (the floor)", args: null },
      { what: "beamix --version", args: ["--version"] },
      { what: "beamix build --help", args: ["build", "--help"] },
      { what: `no-op beamix build (${served.packages.length} packages)`, args: buildArgs },
    ];
    const timed = (form: StartupForm, args: string[] | null) => (args === null ? run(process.execPath, ["-e", "0"], workDir, env(form)) : beamix(form, args));
    for (const form of forms) for (const c of commands) checked(await timed(form, c.args), `${c.what} (${form.name})`);
    const samples = new Map<string, number[]>();
    for (let i = 0; i < runs; i++) {
      for (const c of commands) {
        for (const form of forms) {
          const key = `${c.what}\0${form.name}`;
          samples.set(key, [...(samples.get(key) ?? []), checked(await timed(form, c.args), `${c.what} (${form.name})`).seconds]);
        }
      }
    }
    return {
      packages: served.packages.length,
      runs,
      rows: commands.map((c) => {
        const of = (f: StartupForm) => samples.get(`${c.what}\0${f.name}`)!;
        return { what: c.what, seconds: new Map(forms.map((f) => [f.name, median(of(f))])), fastest: new Map(forms.map((f) => [f.name, Math.min(...of(f))])) };
      }),
    };
  } finally {
    await served.server.close();
  }
}

export function startupTable(r: StartupResult, forms: StartupForm[]): string[][] {
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const [a, b] = forms.map((f) => f.name);
  const ratio = (m: Map<string, number>) => (b ? `${(m.get(b)! / m.get(a)!).toFixed(2)}x` : "");
  return [
    [`start-up: median (fastest) of ${r.runs}`, ...forms.map((f) => f.name), b ? `${b}/${a}` : ""],
    ...r.rows.map((row) => [row.what, ...forms.map((f) => `${ms(row.seconds.get(f.name)!)} (${ms(row.fastest.get(f.name)!)})`), `${ratio(row.seconds)} (${ratio(row.fastest)})`]),
  ];
}
