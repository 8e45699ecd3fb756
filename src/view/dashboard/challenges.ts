// Reproducibility verdicts shown on the dashboard: the reports of `beamix challenge --json` that
// the operator uploads (POST /challenges). Uploading needs the admin token: a verdict is the
// operator's statement about their cache, and anyone able to post one could make a good cache
// look broken (or a broken one look fine). Clients never rely on it: they verify every
// substitute's signature and hash themselves. The latest report about an item wins. Kept in
// memory, and in a JSON file when one is given, so verdicts survive a restart.
import { readFile } from "node:fs/promises";
import { BeamixError, errorMessage } from "../../errors.ts";
import { writeFileAtomic } from "../../util/atomic-write.ts";

export type Verdict = "consistent" | "differs" | "inconclusive";

export interface VerdictEntry {
  drvHash: string;
  name: string;
  version: string;
  verdict: Verdict;
  sources: { origin: string; state: string; narHash?: string }[];
  debugInfoOnly?: boolean; // differs only in debug info
  uploadedAt: string; // ISO time
}

const VERDICTS = new Set(["consistent", "differs", "inconclusive"]);
const DRV_HASH_RE = /^[0-9a-z]{16,64}$/;
const MAX_ITEMS = 100_000;

// The items of a `beamix challenge --json` report, checked field by field: an upload is refused
// whole, naming the first thing that does not match.
export function parseChallengeUpload(text: string, uploadedAt: string): VerdictEntry[] {
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (err) {
    throw new BeamixError(`not JSON: ${errorMessage(err)}`);
  }
  const items = (report as { items?: unknown })?.items;
  if (!Array.isArray(items)) throw new BeamixError("not a beamix challenge --json report: no items array");
  if (items.length > MAX_ITEMS) throw new BeamixError(`more than ${MAX_ITEMS} items`);
  return items.map((raw, n) => {
    const i = raw as Record<string, unknown>;
    const str = (k: string) => (typeof i[k] === "string" ? (i[k] as string) : undefined);
    if (!DRV_HASH_RE.test(str("drvHash") ?? "")) throw new BeamixError(`items[${n}].drvHash: not a derivation hash`);
    if (!str("name") || !str("version")) throw new BeamixError(`items[${n}]: no name or version`);
    if (!VERDICTS.has(str("verdict") ?? "")) throw new BeamixError(`items[${n}].verdict: not consistent, differs or inconclusive`);
    const sources = Array.isArray(i.sources) ? (i.sources as Record<string, unknown>[]) : [];
    const diffs = Array.isArray(i.diffs) ? (i.diffs as { comparison?: { debugInfoOnly?: unknown } }[]) : [];
    return {
      drvHash: str("drvHash")!,
      name: str("name")!.slice(0, 200),
      version: str("version")!.slice(0, 100),
      verdict: str("verdict") as Verdict,
      sources: sources.slice(0, 32).map((s) => ({ origin: String(s.origin ?? "").slice(0, 500), state: String(s.state ?? "").slice(0, 32), ...(typeof s.narHash === "string" ? { narHash: s.narHash.slice(0, 64) } : {}) })),
      ...(str("verdict") === "differs" && diffs.length > 0 && diffs.every((d) => d.comparison?.debugInfoOnly === true) ? { debugInfoOnly: true } : {}),
      uploadedAt,
    };
  });
}

export class ChallengeBook {
  private readonly byDrv = new Map<string, VerdictEntry>();
  private readonly file: string | undefined;

  private constructor(file: string | undefined) {
    this.file = file;
  }

  static async open(file?: string): Promise<ChallengeBook> {
    const book = new ChallengeBook(file);
    if (file) {
      const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw new BeamixError(`${file}: cannot read the recorded challenge verdicts (${err.code ?? errorMessage(err)})`);
      });
      if (text !== undefined) {
        try {
          book.add(parseChallengeUpload(text, new Date().toISOString()));
        } catch (err) {
          throw new BeamixError(`${file}: not recorded challenge verdicts: ${errorMessage(err)}`);
        }
        // Keep the recorded upload times.
        for (const e of (JSON.parse(text) as { items: VerdictEntry[] }).items) if (typeof e.uploadedAt === "string") book.byDrv.get(e.drvHash)!.uploadedAt = e.uploadedAt;
      }
    }
    return book;
  }

  private add(entries: readonly VerdictEntry[]): void {
    for (const e of entries) this.byDrv.set(e.drvHash, e);
  }

  async upload(text: string): Promise<number> {
    const entries = parseChallengeUpload(text, new Date().toISOString());
    this.add(entries);
    if (this.file) await writeFileAtomic(this.file, JSON.stringify({ items: this.all() }, null, 1) + "\n");
    return entries.length;
  }

  get(drvHash: string): VerdictEntry | undefined {
    return this.byDrv.get(drvHash);
  }

  all(): VerdictEntry[] {
    return [...this.byDrv.values()].sort((a, b) => a.name.localeCompare(b.name) || a.drvHash.localeCompare(b.drvHash));
  }
}
