// How `beamix verify --repair` brings a damaged store item back (Store.verify accepts a tree only
// when it hashes to the item's recorded output hash): its trusted substitute from the binary
// caches, or a rebuild of the derivation its store record keeps, from its Hex source, on the
// same toolchain and with its references as inputs.
import { BeamixError } from "../errors.ts";
import type { HexRepo } from "../hex/registry/client.ts";
import { derivationHash, toolchainSummary, type Derivation } from "../derivation/derivation.ts";
import { derivationFromJson } from "../derivation/serialize.ts";
import { buildOne } from "../realize/build-one.ts";
import type { IdentifiedPackage, Plan } from "../realize/plan.ts";
import type { Restorer, Store, StoreItem } from "../store/store.ts";
import type { Substituters } from "../substitute/client/substituters.ts";
import type { Toolchain } from "../toolchain/detect.ts";

export function substituteRestorer(store: Store, subs: Substituters, report: (line: string) => void): Restorer {
  return async (item, staging) => {
    const got = await subs.fetchInto(store, { drvHash: item.drvHash, name: item.name, version: item.version }, staging, { report, references: "as-recorded" });
    return got.status === "substituted" ? got.url : undefined; // rejections were reported
  };
}

export interface RebuildContext {
  store: Store;
  repos: () => Promise<ReadonlyMap<string, HexRepo>>; // asked only when something is rebuilt
  toolchain: () => Promise<Toolchain>;
  sandbox: boolean;
  timeoutMs: number;
}

// The derivation a store item's record keeps, checked against the item's name.
function recordedDerivation(item: StoreItem): Derivation {
  const json = (item.deriver as { derivation?: unknown } | null)?.derivation;
  if (json === undefined) throw new BeamixError(`the store does not record how ${item.name} ${item.version} was made`);
  const d = derivationFromJson(json);
  if (derivationHash(d) !== item.drvHash) throw new BeamixError(`the derivation recorded for ${item.name} ${item.version} does not hash to its name`);
  return d;
}

export function rebuildRestorer(ctx: RebuildContext): Restorer {
  return async (item, staging) => {
    const { store } = ctx;
    const d = recordedDerivation(item);
    const source = d.definition.source;
    if (source.type !== "hex") throw new BeamixError(`cannot rebuild ${item.name} ${item.version}: its source is not from a Hex repository`);
    const tc = await ctx.toolchain();
    if (derivationHash({ ...d, toolchain: toolchainSummary(tc, d.definition) }) !== item.drvHash) {
      throw new BeamixError(`cannot rebuild ${item.name} ${item.version}: it was built with another toolchain (${JSON.stringify(d.toolchain)})`);
    }
    const repo = (await ctx.repos()).get(source.repo);
    if (!repo) throw new BeamixError(`cannot rebuild ${item.name} ${item.version}: no repository named ${source.repo} is configured (beamix repo add, or --repo-name and --repo)`);
    // The plan of one package: the item, with the items it references (and theirs) as inputs.
    // (The item itself is not valid while damaged: its closure is its references'.)
    const packages = new Map<string, IdentifiedPackage>();
    for (const it of [...store.closure(item.references).map((p) => store.queryItem(p)!), item]) {
      const dd = it === item ? d : recordedDerivation(it);
      packages.set(dd.definition.name, {
        name: dd.definition.name,
        version: dd.definition.version,
        app: dd.definition.app,
        repo: source.repo,
        definition: dd.definition,
        deps: Object.keys(dd.inputs),
        source: { kind: "hex", repo },
        derivation: dd,
        drvHash: it.drvHash,
        itemPath: it.path,
      });
    }
    for (const p of packages.values()) {
      for (const dep of p.deps) if (!packages.has(dep)) throw new BeamixError(`cannot rebuild ${item.name} ${item.version}: its input ${dep} is not among its references`);
    }
    const plan: Plan = { roots: [d.definition.name], packages, projectConfig: {} };
    await buildOne(plan, packages.get(d.definition.name)!, staging, { store, toolchain: tc, sandbox: ctx.sandbox, timeoutMs: ctx.timeoutMs });
    return "a rebuild";
  };
}
