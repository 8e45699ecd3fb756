// `beamix deps`: fill a Mix project's deps/ and _build/ENV/lib/ with its locked dependencies,
// compiled through the store (or substituted from binary caches); `--push` then publishes them.
import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { cacheDir } from "../../config/paths.ts";
import { BeamixError, UsageError } from "../../errors.ts";
import { DEFAULT_PRIORITY } from "../../substitute/format/cache-info.ts";
import { readSecretKeyFile } from "../../signing/keys.ts";
import { openCache } from "../../substitute/backends/open-cache.ts";
import { publishClosure, type PublishResult } from "../../substitute/server/publish.ts";
import { publishSharedAnswers } from "../../substitute/format/mix-answers.ts";
import { depsMixEnv, syncDeps, unchangedReport, type SettledRun } from "../../deps/deps.ts";
import { depsOutput } from "../../deps/report-output.ts";
import { currentCall, recordUnchangedRun, replayable, type RunCall } from "../../deps/unchanged-replay.ts";
import { sharedRestoreKey } from "../../deps/shared-restore-key.ts";
import { recordCheckoutRestore } from "../../deps/checkout-restore.ts";
import { openCachedMixSession, type CachedMixSession } from "../../deps/mix-answers.ts";
import { DEPS_RECORD, publishDepsRecord, publishPack } from "../../substitute/format/deps-record.ts";
import { documentKey } from "../../substitute/format/signed-document.ts";
import { compileEnvOf } from "../../substitute/format/compile-env-hints.ts";
import type { Substituters } from "../../substitute/client/substituters.ts";
import type { Store } from "../../store/store.ts";
import type { CacheBackend } from "../../substitute/backends/backend.ts";
import { defaultProgress } from "../progress-display.ts";
import type { Progress } from "../../realize/progress.ts";
import type { RepoOptions } from "../repo-options.ts";
import {
  addBuildOptions,
  addRepoOptions,
  addStoreOption,
  addSubstituterOptions,
  jobsFromOptions,
  openStoreFromOptions,
  reposFromOptions,
  substitutersFromOptions,
  timeoutFromOptions,
  toolchain,
  type BuildOptions,
  type StoreOptions,
  type SubstituterOptions,
} from "../context.ts";
import { priorityOption } from "../options.ts";
import { addLoadPathOption } from "../definition-options.ts";
import { limitsFromOptions } from "../limit-options.ts";
import { operandIndex } from "../operand-index.ts";

type DepsCliOptions = StoreOptions &
  RepoOptions &
  BuildOptions &
  SubstituterOptions & {
    env?: string;
    check?: boolean;
    json?: boolean;
    hardLinks?: boolean;
    timeline?: string;
    loadPath: string[];
    push?: boolean;
    to?: string;
    signWith?: string;
    priority?: number;
  };

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function registerDepsCommands(program: Command): void {
  const deps = program
    .command("deps")
    .description("build (or find) a Mix project's locked dependencies and put them in deps/ and _build/, so mix compile compiles only the project")
    .argument("[dir]", "the Mix project", ".")
    .option("--env <env>", "the MIX_ENV to prepare _build for (default: MIX_ENV, else dev)")
    .option("--check", "report what would be built or written, change nothing; exit 1 if anything would change")
    .option("--hard-links", "hard-link _build files to the store instead of copying them (Mix must then never write them)")
    .option("--json", "print the result as JSON")
    .option("--timeline <file>", "write a page showing each package's wait, download, build phases and registration over time")
    .option("--push", "then push the dependencies the project uses, with their compile-env hints, to the cache --to (for CI)")
    .option("--to <url>", "with --push: the cache (file:///dir, created if needed, or s3://bucket/prefix)")
    .option("--sign-with <secret-key>", "with --push: the secret key file that signs the records (beamix key generate)")
    .option("--priority <n>", `with --push: priority written to a new cache's beamix-cache-info (default ${DEFAULT_PRIORITY})`, priorityOption);
  addLoadPathOption(deps);
  addStoreOption(deps);
  addRepoOptions(deps);
  addBuildOptions(deps);
  addSubstituterOptions(deps);
  deps.action(async (dir: string, opts: DepsCliOptions, command: Command) => {
    // Detecting the toolchain may start an Erlang VM: it runs while the rest is set up and Mix
    // reads the project, and its failure is reported where it was awaited before.
    const detected = toolchain();
    detected.catch(() => {});
    // Mix reads the project in an Elixir VM, the longest step before anything can be realized:
    // started first, handed to syncDeps (which closes it), stopped if the run ends before that.
    // Its answers are kept: when none of their inputs changed, no VM starts (mix-answers.ts).
    // The substituters are made now: when no answers are kept, the session first asks them for
    // answers another machine published (--push), before it starts a VM. What they report
    // before the progress display exists is held until it does.
    const early: string[] = [];
    let warnTo: ((line: string) => void) | undefined;
    const substituting = opts.check ? Promise.resolve(undefined) : substitutersFromOptions(opts, (line) => (warnTo ? warnTo(line) : early.push(line)));
    substituting.catch(() => {});
    const mix = openCachedMixSession(dir, depsMixEnv(opts.env), cacheDir(), substituting);
    // A cache's record of the whole project, asked for meanwhile (shared-restore.ts).
    const call = process.argv[2] === "deps" ? currentCall(process.argv.slice(3)) : undefined;
    const sharedRecord = call && replayable(call.argv) && process.env.BEAMIX_REPLAY !== "off" ? lookUpSharedRecord(dir, mix, substituting) : Promise.resolve(undefined);
    sharedRecord.catch(() => {});
    let handedOver = false;
    let settled: SettledRun | undefined;
    try {
      // Checked before anything is built, so a CI run with a wrong key fails at once.
      const push = await pushTarget(opts);
      const store = await openStoreFromOptions(opts);
      try {
        // With --json, stdout is the result; warnings (rejected substitutes) still go to stderr.
        const timeline = opts.timeline ? await (await import("./build-extras.ts")).timelineRecorder(opts.timeline) : undefined;
        const shown = opts.json ? warningsOnly() : await defaultProgress();
        const progress = timeline ? timeline.wrap(shown) : shown;
        const warn = (line: string) => progress.event({ type: "warning", message: line });
        warnTo = warn;
        for (const line of early.splice(0)) warn(line);
        const substituters = await substituting;
        const { repos, jobs, timeoutMs } = await (async () => ({ repos: await reposFromOptions(opts), jobs: jobsFromOptions(opts), timeoutMs: timeoutFromOptions(opts) }))().catch(
          async (err: unknown) => {
            await detected; // a toolchain that cannot be used is reported first, as before
            throw err;
          },
        );
        // A fresh checkout whose whole record a cache holds (deps --push published it) is
        // filled from it: no registry, tarball, Mix answers or comparison.
        const found = await sharedRecord;
        if (call && substituters && found) {
          const { restoreFromSharedRecord } = await import("../../deps/shared-restore.ts");
          const link = opts.hardLinks ? "hardlink" : "copy";
          const restored = await restoreFromSharedRecord({ call, operand: operandIndex(call.argv, command) ?? null, projectDir: resolve(dir), found, store, link, toolchain: detected, source: substituters, report: warn });
          if (restored) {
            if (process.env.BEAMIX_REPLAY === "trace") process.stderr.write("beamix: restored a fresh checkout from a cache's record\n");
            process.stdout.write(restored.stdout);
            process.stderr.write(restored.stderr);
            process.exitCode = restored.exitCode;
            return;
          }
        }
        handedOver = true;
        const report = await syncDeps({
          projectDir: dir,
          mixEnv: opts.env,
          store,
          toolchain: detected,
          mix,
          repos,
          cacheDir: cacheDir(),
          jobs,
          keepGoing: opts.keepGoing,
          keepFailed: opts.keepFailed,
          sandbox: opts.sandbox,
          timeoutMs,
          limits: limitsFromOptions(opts),
          progress,
          check: opts.check,
          link: opts.hardLinks ? "hardlink" : "copy",
          definitionDirs: opts.loadPath,
          substituters,
          fallback: opts.fallback,
          onSettled: (s) => (settled = s),
        });
        const ok = report.failed.length === 0 && report.skipped.length === 0;
        // Whose deps-… GC roots these are, for beamix roots (src/inspect/projects.ts).
        if (!opts.check) await (await import("../../inspect/projects.ts")).noteProject(store, report.project.dir, report.project.mixEnv);
        if (timeline) await timeline.write(store, report.items, `beamix deps ${report.project.dir}`);
        // What the same command prints next time if nothing changes, said without loading the CLI;
        // what a fresh checkout of the project can be filled from, without running.
        const operand = call && operandIndex(call.argv, command);
        const output = { json: opts.json ?? false, substituting: substituters !== undefined };
        if (settled && call) {
          await recordUnchangedRun(call, settled, { ...depsOutput(unchangedReport(report), { ...output, check: false }), exitCode: 0 });
          if (operand !== undefined) await recordCheckoutRestore(call, settled, { operand, substituting: output.substituting });
        }
        let pushed: (PublishResult & { mixAnswers: boolean; restoreRecord: boolean }) | undefined;
        if (push && ok) {
          const closure = await publishClosure(store, report.items.map((i) => i.path), push.cache, {
            signWith: push.secret,
            priority: push.priority,
            jobs,
            report: warn,
            onItem: (e) => {
              if (e.status === "pushed" && !opts.json) process.stderr.write(`pushed ${e.item.name} ${e.item.version} (${kib(e.fileSize!)}${e.archiveUploaded ? "" : ", archive already there"})\n`);
            },
          });
          // Then Mix's answers, so that a machine without them starts no VM (mix-answers.ts).
          const shared = await mix.shareable();
          if (shared) await publishSharedAnswers(push.cache, shared.key, shared.body, push.secret);
          // Then the whole record of what was written, for a fresh checkout elsewhere.
          const restoreRecord = call && settled && operand !== undefined && shared ? await publishRestoreRecord(call, operand, dir, settled, shared.key, store, push) : false;
          pushed = { ...closure, mixAnswers: shared !== undefined, restoreRecord };
        }
        const pushedJson = pushed && { cache: push!.cache.url, pushed: pushed.pushed.map((i) => i.path), present: pushed.present.map((i) => i.path), hints: pushed.hints, mixAnswers: pushed.mixAnswers, restoreRecord: pushed.restoreRecord };
        const printed = depsOutput(report, { ...output, check: opts.check ?? false }, pushedJson);
        process.stdout.write(printed.stdout);
        process.stderr.write(printed.stderr);
        if (pushed) {
          const answers = pushed.mixAnswers ? "Mix's answers about the project" : "Mix's answers not pushed (they depend on more than the project's files)";
          const record = pushed.restoreRecord ? "; the project's restore record" : "";
          process.stderr.write(`${pushed.pushed.length} pushed, ${pushed.present.length} already in ${push!.cache.url}; ${pushed.hints.length} compile-env hints written; ${answers}${record}\n`);
        } else if (push) process.stderr.write("nothing pushed: not every dependency was realized\n");
        if (!ok || (opts.check && report.changed)) process.exitCode = 1;
      } finally {
        await store.close();
      }
    } finally {
      if (!handedOver) await mix.close(true);
    }
  });
}

function warningsOnly(): Progress {
  return {
    total() {},
    event(e) {
      if (e.type === "warning") process.stderr.write(`${e.message}\n`);
    },
    finish() {},
  };
}

// How long a run waits for the caches' record of the project before it takes the full path.
const SHARED_RECORD_WAIT_MS = 2000;

// The caches' record of the whole project (shared-restore.ts), filed under its shared answers'
// key and the lock's hash; undefined when none has one (in time), or the key cannot be computed.
async function lookUpSharedRecord(dir: string, mix: CachedMixSession, substituting: Promise<Substituters | undefined>): Promise<{ body: string; backend: CacheBackend } | undefined> {
  const [substituters, answersKey, lock] = await Promise.all([substituting, mix.sharedKey(), readFile(join(resolve(dir), "mix.lock")).catch(() => undefined)]);
  if (!substituters || answersKey === undefined || lock === undefined) return undefined;
  // A cache that never answers is given up on, its request aborted so that it holds nothing open.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), SHARED_RECORD_WAIT_MS);
  timer.unref();
  try {
    return await substituters.depsRecord(sharedRestoreKey(answersKey, lock), abort.signal);
  } finally {
    clearTimeout(timer);
  }
}

// Publishes the project's restore record and its packs; whether it was (or was already) there.
async function publishRestoreRecord(call: RunCall, operand: number | null, dir: string, settled: SettledRun, answersKey: string, store: Store, push: NonNullable<Awaited<ReturnType<typeof pushTarget>>>): Promise<boolean> {
  const [{ sharedRestoreOf }, { restoreRecordOf }] = await Promise.all([import("../../deps/shared-restore.ts"), import("../../deps/checkout-restore.ts")]);
  const lock = await readFile(settled.written?.project.lockfile ?? join(resolve(dir), "mix.lock")).catch(() => undefined);
  if (!lock) return false;
  const key = sharedRestoreKey(answersKey, lock);
  // A run that changed nothing holds no trees to record: the record made when they were written
  // is the one filed under the same key, if the cache has it.
  if (!settled.written) return settled.inputs !== undefined && (await push.cache.exists(documentKey(DEPS_RECORD, key)));
  const made = await restoreRecordOf(call, settled, { operand, substituting: false }).catch(() => undefined);
  const shared = made && sharedRestoreOf(made.record, settled.written!, (path) => {
    const item = store.queryItem(path);
    const compileEnv = item && compileEnvOf(item);
    return item && { ...(compileEnv ? { compileEnv } : {}), references: item.references };
  });
  if (!shared) return false;
  for (const bytes of shared.packs) await publishPack(push.cache, bytes);
  await publishDepsRecord(push.cache, key, JSON.stringify(shared.record), push.secret);
  return true;
}

// Where --push goes, read and checked up front.
async function pushTarget(opts: DepsCliOptions) {
  if (!opts.push) {
    if (opts.to !== undefined || opts.signWith !== undefined || opts.priority !== undefined) throw new UsageError("--to, --sign-with and --priority go with --push");
    return undefined;
  }
  if (opts.check) throw new UsageError("--push and --check do not go together");
  if (opts.to === undefined || opts.signWith === undefined) throw new UsageError("--push needs --to URL and --sign-with KEY");
  const priority = opts.priority ?? DEFAULT_PRIORITY;
  const secret = await readSecretKeyFile(opts.signWith);
  const cache = openCache(opts.to);
  if (!cache.writable) throw new BeamixError(`${opts.to}: cannot push there (read-only); push to a file:// directory and serve it`);
  return { cache, secret, priority };
}
