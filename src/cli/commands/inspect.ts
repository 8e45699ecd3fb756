// `beamix size`, `beamix graph`, `beamix why-depends`, `beamix weather`, `beamix roots`: looking at
// what the store holds (src/inspect/).
import { resolve } from "node:path";
import type { Command } from "commander";
import { BeamixError, UsageError } from "../../errors.ts";
import { defaultStoreDir, type Store } from "../../store/store.ts";
import { label } from "../../realize/realize.ts";
import { addRepoOptions, addStoreOption, addSubstituterOptions, openStoreFromOptions, substitutersFromOptions, type SubstituterOptions } from "../context.ts";
import { addProjectOptions, planFromOptions, rootsOf, SPEC_HELP, type PlanCliOptions } from "./build.ts";
import { addToolchainOptions } from "../toolchain-options.ts";
import { printJson, printLines } from "../output.ts";
import { writeOutputFile } from "../output-file.ts";
import { formatBytes } from "../../inspect/closure.ts";
import { closureSizes } from "../../inspect/size.ts";
import { closureGraph, graphToDot } from "../../inspect/graph.ts";
import { whyDepends } from "../../inspect/why-depends.ts";
import { closureWeather, type WeatherItem } from "../../inspect/weather.ts";
import { listRootEntries, removeRoots } from "../../inspect/roots.ts";
import { graphPage } from "../../view/graph-page.ts";

const ITEM_HELP = `a store item path, or ${SPEC_HELP}`;

// The store items of the specs: item paths as they are, the rest planned as `beamix path` plans
// them; each must be in the store. The caller closes the store.
async function itemsOf(specs: string[], opts: PlanCliOptions): Promise<{ store: Store; items: string[] }> {
  const planned = specs.filter((s) => !isItemPath(s, opts));
  if (planned.length === 0) {
    const store = await openStoreFromOptions(opts);
    return { store, items: specs.map((s) => checkedItem(store, resolve(s))) };
  }
  const { store, plan } = await planFromOptions(planned, opts);
  try {
    const fromPlan = rootsOf(plan).map((p) => {
      if (p.itemPath === undefined || !store.isValid(p.itemPath)) throw new BeamixError(`${label(p)}: not in the store yet (run beamix build)`);
      return p.itemPath;
    });
    let next = 0;
    return { store, items: specs.map((s) => (isItemPath(s, opts) ? checkedItem(store, resolve(s)) : fromPlan[next++])) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

// A path inside the store directory names an item; anything else is a spec.
function isItemPath(spec: string, opts: PlanCliOptions): boolean {
  const storeDir = resolve(opts.store ?? defaultStoreDir());
  return spec.startsWith("/") && resolve(spec).startsWith(storeDir + "/");
}

// The closure weather asks about: store paths' closures, and the specs' planned closures (built
// or not: a planned package's identity is known before building unless config can change it).
async function weatherItems(specs: string[], opts: PlanCliOptions): Promise<{ store: Store; items: WeatherItem[] }> {
  const paths = specs.filter((s) => isItemPath(s, opts));
  const planned = specs.filter((s) => !isItemPath(s, opts));
  const { store, plan } = planned.length ? await planFromOptions(planned, opts) : { store: await openStoreFromOptions(opts), plan: undefined };
  try {
    const byPath = new Map<string, WeatherItem>();
    for (const p of store.closure(paths.map((s) => checkedItem(store, resolve(s))))) {
      const i = store.queryItem(p)!;
      byPath.set(p, { name: i.name, version: i.version, drvHash: i.drvHash, narHash: i.narHash });
    }
    const fromPlan = [...(plan?.packages.values() ?? [])].map((p): WeatherItem => {
      const local = p.itemPath !== undefined ? store.queryItem(p.itemPath) : undefined;
      return { name: p.name, version: p.version, ...(p.drvHash ? { drvHash: p.drvHash } : {}), ...(local ? { narHash: local.narHash } : {}) };
    });
    const seen = new Set([...byPath.values()].map((i) => i.drvHash));
    return { store, items: [...byPath.values(), ...fromPlan.filter((i) => i.drvHash === undefined || !seen.has(i.drvHash))] };
  } catch (err) {
    await store.close();
    throw err;
  }
}

function checkedItem(store: Store, path: string): string {
  if (!store.isValid(path)) throw new BeamixError(`${path}: not a valid item of the store ${store.dir}`);
  return path;
}

function inspectCommand(program: Command, name: string, description: string): Command {
  const cmd = program.command(name).description(description).option("--json", "print JSON");
  addStoreOption(cmd);
  addRepoOptions(cmd);
  addProjectOptions(cmd);
  addToolchainOptions(cmd);
  return cmd;
}

async function withItems(specs: string[], opts: PlanCliOptions, fn: (store: Store, items: string[]) => Promise<void>): Promise<void> {
  const { store, items } = await itemsOf(specs, opts);
  try {
    await fn(store, items);
  } finally {
    await store.close();
  }
}

const pad = (s: string, n: number) => s.padEnd(n);

export function registerInspectCommands(program: Command): void {
  inspectCommand(program, "size", "each item of a closure with its own size and its closure's size, largest first (like guix size)")
    .argument("<spec...>", ITEM_HELP)
    .action((specs: string[], opts: PlanCliOptions) =>
      withItems(specs, opts, async (store, items) => {
        const r = closureSizes(store, items);
        if (opts.json) return printJson(r);
        const width = Math.max(4, ...r.items.map((i) => `${i.name} ${i.version}`.length));
        printLines([
          `${pad("item", width)}  ${pad("own", 10)}  closure`,
          ...r.items.map((i) => `${pad(`${i.name} ${i.version}`, width)}  ${pad(formatBytes(i.own), 10)}  ${formatBytes(i.closure)}`),
          `total: ${formatBytes(r.total)} in ${r.items.length} items`,
        ]);
      }),
    );

  inspectCommand(program, "graph", "the reference graph of a closure: Graphviz dot, or one self-contained HTML page")
    .argument("<spec...>", ITEM_HELP)
    .option("--format <format>", "dot or html", "dot")
    .option("-o, --output <file>", "write it to FILE instead of stdout")
    .action((specs: string[], opts: PlanCliOptions & { format: string; output?: string }) => {
      if (opts.format !== "dot" && opts.format !== "html") throw new UsageError(`--format must be dot or html, not ${JSON.stringify(opts.format)}`);
      return withItems(specs, opts, async (store, items) => {
        const g = closureGraph(store, items);
        const text = opts.json ? JSON.stringify(g, null, 2) + "\n" : opts.format === "dot" ? graphToDot(g) : graphPage(g, specs.join(" "));
        if (opts.output) await writeOutputFile(opts.output, text);
        else process.stdout.write(text);
      });
    });

  inspectCommand(program, "why-depends", "why the first item needs the second: a shortest chain of references (like nix why-depends)")
    .argument("<from>", ITEM_HELP)
    .argument("<to>", ITEM_HELP)
    .action((from: string, to: string, opts: PlanCliOptions) =>
      withItems([from, to], opts, async (store, [a, b]) => {
        const chain = whyDepends(store, a, b);
        if (opts.json) printJson({ from: a, to: b, chain: chain?.map((i) => ({ path: i.path, name: i.name, version: i.version })) ?? null });
        else if (chain) printLines(chain.map((i, n) => `${n === 0 ? "" : `${"    ".repeat(n - 1)}└───> `}${i.name} ${i.version}  ${i.path}`));
        if (!chain) {
          process.stderr.write(`beamix: ${label(store.queryItem(a)!)} does not depend on ${label(store.queryItem(b)!)}\n`);
          process.exitCode = 1;
        }
      }),
    );

  const weather = inspectCommand(program, "weather", "how much of a closure each binary cache holds, with trusted records (like guix weather)").argument("<spec...>", ITEM_HELP);
  addSubstituterOptions(weather);
  weather.action(async (specs: string[], opts: PlanCliOptions & SubstituterOptions) => {
    const say = (line: string) => void process.stderr.write(`beamix: ${line}\n`);
    const subs = await substitutersFromOptions({ ...opts, substitutes: true }, say);
    if (!subs) throw new UsageError("no binary cache to ask: give --substituters URL (or list caches in the config file)");
    const { store, items } = await weatherItems(specs, opts);
    try {
      const caches = await closureWeather(items, subs, say);
      if (opts.json) return printJson(caches);
      printLines(
        caches.flatMap((c) => [
          `${c.url}`,
          c.usable
            ? `  ${c.available} of ${c.total} items available (${c.total ? ((100 * c.available) / c.total).toFixed(1) : "0.0"}%), ${formatBytes(c.downloadBytes)} to download, ${formatBytes(c.narBytes)} unpacked`
            : "  not usable (see above)",
          ...c.items.filter((i) => i.state !== "available").map((i) => `  ${i.state}: ${i.name} ${i.version}${i.detail ? ` (${i.detail})` : ""}`),
        ]),
      );
    } finally {
      await store.close();
    }
  });

  const roots = program
    .command("roots")
    .description("list the store's GC roots (profiles, projects of beamix deps, --root links, running processes); remove some")
    .option("--remove <name>", "remove this root (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--remove-stale", "remove the roots of projects and links that no longer exist, and of dead processes")
    .option("--json", "print JSON");
  addStoreOption(roots);
  roots.action(async (opts: PlanCliOptions & { remove: string[]; removeStale?: boolean }) => {
    const store = await openStoreFromOptions(opts);
    try {
      let entries = await listRootEntries(store);
      const unknown = opts.remove.filter((n) => !entries.some((e) => e.name === n));
      if (unknown.length) throw new BeamixError(`no GC root named ${unknown.join(", ")} in the store ${store.dir} (beamix roots lists them)`);
      const doomed = [...opts.remove, ...(opts.removeStale ? entries.filter((e) => e.stale !== null).map((e) => e.name) : [])];
      const removed = await removeRoots(store, [...new Set(doomed)]);
      entries = entries.filter((e) => !removed.includes(e.name));
      if (opts.json) return printJson({ roots: entries, removed });
      printLines([
        ...removed.map((n) => `removed ${n}`),
        ...entries.map((e) => {
          const what = e.kind === "project" ? `project ${e.project!.dir ?? "(not noted)"}${e.project!.mixEnv ? ` (${e.project!.mixEnv})` : ""}` : e.kind === "link" ? `link ${e.link}` : e.kind;
          return `${e.name}  ${what}  -> ${e.item ?? "(nothing)"}${e.stale ? `  [stale: ${e.stale}]` : ""}`;
        }),
      ]);
    } finally {
      await store.close();
    }
  });
}
