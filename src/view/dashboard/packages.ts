// What a served cache holds, for the dashboard: one entry per item, from the cache directory's
// records or the store's items, with the toolchain it was built with, its sizes, and who signs it.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../../errors.ts";
import type { ServeSource } from "../../substitute/server/serve.ts";
import { MAX_RECORD_BYTES, parseRecord } from "../../substitute/format/record.ts";
import { RECORD_SUFFIX } from "../../substitute/format/layout.ts";
import { toolchainLine } from "../../substitute/format/item-record.ts";

export interface DashboardItem {
  item: string; // <drv hash>-<name>-<version>
  drvHash: string;
  name: string;
  version: string;
  toolchain: Record<string, string>; // otp, otp-version, erts, nif, target, elixir, rebar3, when known
  narSize: number; // the tree
  fileSize: number | null; // the archive, as the cache stores it (null: compressed when first asked for)
  signedBy: string[]; // key names
  references: number;
}

export interface CacheContents {
  items: DashboardItem[]; // by name, then version, then item
  keys: { name: string; publicKey?: string }[]; // keys whose signatures the cache serves
  problems: string[]; // records that could not be read, one line each
}

// `otp=25 otp-version=25.2.3 …` → { otp: "25", "otp-version": "25.2.3", … }
function parseToolchain(line: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (line ?? "").split(" ")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const keyNameOf = (sig: string) => sig.slice(0, Math.max(0, sig.indexOf(":")));

export async function cacheContents(source: ServeSource): Promise<CacheContents> {
  const items: DashboardItem[] = [];
  const problems: string[] = [];
  const keys = new Map<string, string | undefined>();
  if (source.kind === "cache") {
    for (const name of (await readdir(source.dir)).filter((n) => n.endsWith(RECORD_SUFFIX)).sort()) {
      try {
        const text = await readFile(join(source.dir, name), "utf8");
        if (text.length > MAX_RECORD_BYTES) throw new Error("too large");
        const r = parseRecord(text, name);
        const signedBy = r.signatures.map(keyNameOf).filter((n) => n !== "");
        for (const k of signedBy) if (!keys.has(k)) keys.set(k, undefined);
        items.push({ item: `${r.drvHash}-${r.name}-${r.version}`, drvHash: r.drvHash, name: r.name, version: r.version, toolchain: parseToolchain(r.toolchain), narSize: r.narSize, fileSize: r.fileSize, signedBy, references: r.references.length });
      } catch (err) {
        problems.push(`${name}: ${errorMessage(err)}`);
      }
    }
  } else {
    if (source.signWith) keys.set(source.signWith.name, source.signWith.publicKey.text);
    for (const i of source.store.listItems()) {
      const deriver = (i.deriver ?? {}) as { derivation?: { toolchain?: Record<string, unknown> } };
      items.push({
        item: `${i.drvHash}-${i.name}-${i.version}`,
        drvHash: i.drvHash,
        name: i.name,
        version: i.version,
        toolchain: parseToolchain(toolchainLine(deriver.derivation?.toolchain)),
        narSize: i.narSize,
        fileSize: null,
        signedBy: source.signWith ? [source.signWith.name] : [],
        references: i.references.length,
      });
    }
  }
  items.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version, undefined, { numeric: true }) || a.item.localeCompare(b.item));
  return { items, keys: [...keys].map(([name, publicKey]) => ({ name, ...(publicKey ? { publicKey } : {}) })), problems };
}
