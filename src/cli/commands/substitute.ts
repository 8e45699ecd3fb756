// `beamix key`, `beamix publish`, `beamix serve`: signing keys, pushing store items to a binary
// cache, and serving a cache or a store over HTTP.
import type { Command } from "commander";
import { BeamixError, UsageError } from "../../errors.ts";
import { realize } from "../../realize/realize.ts";
import { defaultProgress } from "../progress-display.ts";
import { readPublicKeyFile, readSecretKeyFile, writeKeyPair } from "../../signing/keys.ts";
import { authorizeKeys, readTrustedKeys, trustedKeysFile } from "../../config/trust.ts";
import { openCache } from "../../substitute/backends/open-cache.ts";
import { publishClosure } from "../../substitute/server/publish.ts";
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, startSubstituteServer, type ServeSource } from "../../substitute/server/serve.ts";
import { DEFAULT_PRIORITY } from "../../substitute/format/cache-info.ts";
import { openStore, defaultStoreDir } from "../../store/store.ts";
import { cacheDir } from "../../config/paths.ts";
import { join } from "node:path";
import {
  addBuildOptions,
  addRepoOptions,
  addStoreOption,
  addSubstituterOptions,
  jobsFromOptions,
  substitutersFromOptions,
  timeoutFromOptions,
  toolchain,
  type BuildOptions,
  type SubstituterOptions,
} from "../context.ts";
import { addProjectOptions, planFromOptions, rootsOf, SPEC_HELP, type PlanCliOptions } from "./build.ts";
import { printJson, printLines } from "../output.ts";
import { integerOption, priorityOption } from "../options.ts";
import { failureLines } from "../../realize/failure-report.ts";
import { limitsFromOptions } from "../limit-options.ts";
import { addListenOptions, requestLog, serveUntilStopped, type ListenOptions } from "../serve-until-stopped.ts";

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function registerSubstituteCommands(program: Command): void {
  registerKeyCommands(program);
  registerPublish(program);
  registerServe(program);
}

function registerKeyCommands(program: Command): void {
  const key = program.command("key").description("signing keys of binary caches");
  key
    .command("generate")
    .description("make an Ed25519 key pair: NAME.secret (mode 0600, keep it private) and NAME.public")
    .argument("<name>", "the key's name, e.g. cache.example.org-1 (signatures carry it)")
    .option("-o, --output <dir>", "where to write the two files", ".")
    .action(async (name: string, opts: { output: string }) => {
      const { secretPath, publicPath } = await writeKeyPair(name, opts.output);
      printLines([secretPath, publicPath]);
    });
  key
    .command("authorize")
    .description(`trust the public key(s) in FILE for substitutes (adds them to ${trustedKeysFile()})`)
    .argument("<file>", "a public key file (NAME:base64)")
    .action(async (file: string) => {
      const keys = await readPublicKeyFile(file);
      const added = await authorizeKeys(keys);
      const already = keys.filter((k) => !added.includes(k));
      process.stderr.write(
        [...added.map((k) => `trusting ${k.name}`), ...already.map((k) => `${k.name} was already trusted`)].join("\n") + `\n(${trustedKeysFile()})\n`,
      );
    });
  key
    .command("list")
    .description("print the trusted public keys")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const keys = await readTrustedKeys();
      if (opts.json) printJson(keys.map((k) => ({ name: k.name, key: k.text })));
      else printLines(keys.map((k) => k.text));
    });
}

type PublishCliOptions = PlanCliOptions & BuildOptions & SubstituterOptions & { to: string; signWith: string; priority?: number };

function registerPublish(program: Command): void {
  const cmd = program
    .command("publish")
    .description("realize packages (building what is missing) and push them with their closure to a binary cache, signed")
    .argument("<spec...>", SPEC_HELP)
    .requiredOption("--to <url>", "the cache: file:///dir (created if needed)")
    .requiredOption("--sign-with <secret-key>", "the secret key file that signs the records (beamix key generate)")
    .option("--priority <n>", `priority written to a new cache's beamix-cache-info (lower is preferred; default ${DEFAULT_PRIORITY})`, priorityOption)
    .option("--json", "print the result as JSON");
  addStoreOption(cmd);
  addRepoOptions(cmd);
  addProjectOptions(cmd);
  addBuildOptions(cmd);
  addSubstituterOptions(cmd);
  cmd.action(async (specs: string[], opts: PublishCliOptions) => {
    const priority = opts.priority ?? DEFAULT_PRIORITY;
    const secret = await readSecretKeyFile(opts.signWith);
    const cache = openCache(opts.to);
    if (!cache.writable) throw new BeamixError(`${opts.to}: cannot publish there (read-only); publish to a file:// directory and serve it`);
    const tc = await toolchain();
    const { store, plan } = await planFromOptions(specs, opts);
    try {
      const progress = await defaultProgress();
      const substituters = await substitutersFromOptions(opts, (message) => progress.event({ type: "warning", message }));
      const result = await realize(plan, {
        store,
        toolchain: tc,
        jobs: jobsFromOptions(opts),
        keepFailed: opts.keepFailed,
        sandbox: opts.sandbox,
        timeoutMs: timeoutFromOptions(opts),
        limits: limitsFromOptions(opts),
        progress,
        substituters,
        fallback: opts.fallback,
      });
      if (result.failed.length || result.skipped.length) {
        const lines = result.failed.flatMap(failureLines);
        process.stderr.write(lines.join("\n") + (lines.length ? "\n" : ""));
        throw new BeamixError(`nothing published: ${result.failed.length} failed, ${result.skipped.length} not built`);
      }
      const roots = rootsOf(plan).map((p) => result.items.get(p.name)!.path);
      const pushed = await publishClosure(store, roots, cache, {
        signWith: secret,
        priority,
        jobs: jobsFromOptions(opts),
        onItem: (e) => {
          const what = `${e.item.name} ${e.item.version}`;
          if (e.status === "pushed") process.stderr.write(`pushed ${what} (${kib(e.fileSize!)}${e.archiveUploaded ? "" : ", archive already there"})\n`);
        },
      });
      if (opts.json) {
        printJson({
          cache: cache.url,
          roots,
          pushed: pushed.pushed.map((i) => i.path),
          present: pushed.present.map((i) => i.path),
        });
      }
      process.stderr.write(`${pushed.pushed.length} pushed, ${pushed.present.length} already in ${cache.url}\n`);
    } finally {
      await store.close();
    }
  });
}

interface ServeCliOptions extends ListenOptions {
  store?: string;
  cache?: string;
  signWith?: string;
  priority?: number;
  maxConnectionsPerAddress: number;
  adminTokenFile?: string;
  challengesFile?: string;
  dashboard: boolean; // --no-dashboard sets false
}

function registerServe(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve a binary cache over HTTP: a cache directory as it is, or a store (records signed on request)")
    .option("--cache <dir>", "serve this cache directory (as written by beamix publish)")
    .option("--sign-with <secret-key>", "with a store: sign the records with this secret key")
    .option("--priority <n>", `with a store: the priority its beamix-cache-info announces (default ${DEFAULT_PRIORITY})`, priorityOption)
    .option("--max-connections-per-address <n>", "connections one client address may hold open at once", integerOption("--max-connections-per-address", 1), DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
    .option("--admin-token-file <file>", "accept beamix challenge --json reports at POST /challenges from clients sending this file's token (Authorization: Bearer)")
    .option("--challenges-file <file>", "keep the uploaded challenge verdicts in this JSON file across restarts")
    .option("--no-dashboard", "serve only the cache, no dashboard at /");
  addListenOptions(cmd);
  addStoreOption(cmd);
  cmd.action(async (opts: ServeCliOptions) => {
    if (opts.store !== undefined && opts.cache !== undefined) throw new UsageError("give --store or --cache, not both");
    let source: ServeSource;
    let closeSource = async () => {};
    if (opts.cache !== undefined) {
      if (opts.signWith !== undefined || opts.priority !== undefined) throw new UsageError("--sign-with and --priority apply to serving a store; a cache directory is served as it is");
      source = { kind: "cache", dir: opts.cache };
    } else {
      const priority = opts.priority ?? DEFAULT_PRIORITY;
      const signWith = opts.signWith !== undefined ? await readSecretKeyFile(opts.signWith) : undefined;
      const store = await openStore(opts.store ?? defaultStoreDir());
      closeSource = () => store.close();
      // Archives are compressed once and kept in the user's cache directory, keyed by tree hash.
      source = { kind: "store", store, signWith, priority, archiveDir: join(cacheDir(), "serve-archives") };
      if (!signWith) process.stderr.write("records are not signed (no --sign-with): clients that require signatures will refuse them\n");
    }
    const pages = opts.dashboard ? await (await import("../dashboard-options.ts")).dashboardFromOptions(source, opts) : undefined;
    const server = await startSubstituteServer({
      source,
      pages,
      host: opts.host,
      port: opts.port,
      maxConnectionsPerAddress: opts.maxConnectionsPerAddress,
      log: requestLog(opts.verbose),
    });
    await serveUntilStopped(server);
    await closeSource();
  });
}

