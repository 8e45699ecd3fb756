// A Mix project's compile-time configuration: config/config.exs (and whatever it imports for the
// environment) evaluated by Elixir's own Config.Reader, as Mix would, then read back as terms.
//
// Evaluating it starts an Elixir VM (~0.3 s), more than a whole no-op build may take, so the
// result is cached under the cache directory, keyed by the file and MIX_ENV, and used again only
// while every file the evaluation read (Config.Reader reports its imports) has the same bytes.
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import { listView, type Term } from "../erlang/term.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { cacheDir } from "../config/paths.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { PRIV_DIR, firstLine, runTool } from "./run-script.ts";
import { chosenToolchain, toolchainEnv } from "../toolchain/choice.ts";
import { sha256Hex } from "../util/sha256.ts";

interface CachedConfig {
  files: Record<string, string>; // absolute path -> sha256 of its bytes when evaluated
  etf: string; // the script's output: base64 of term_to_binary({config, imports})
}


async function fileHash(path: string): Promise<string | undefined> {
  return readFile(path).then((b) => sha256Hex(b), () => undefined);
}

export async function readConfigFile(file: string, mixEnv: string): Promise<CompileConfig> {
  const path = resolve(file);
  const cachePath = join(cacheDir(), "config", `${sha256Hex(`${path}\0${mixEnv}`)}.json`);
  const cached = await readFile(cachePath, "utf8").then((t) => JSON.parse(t) as CachedConfig, () => undefined);
  if (cached && (await unchanged(cached.files))) return decodeConfigEtf(Buffer.from(cached.etf, "base64"), path).config;

  const out = await runTool("elixir", [join(PRIV_DIR, "elixir", "read_config.exs"), path, mixEnv], toolchainEnv(await chosenToolchain(), { ...process.env, MIX_ENV: mixEnv }));
  const line = out.stdout.split("\n").find((l) => l.startsWith("BEAMIX-ETF ") || l.startsWith("BEAMIX-ERROR "));
  if (!line) throw new BeamixError(`${path}: could not be read: ${firstLine(out.stderr) || `elixir exited with ${out.code}`}`);
  if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${path}: ${line.slice("BEAMIX-ERROR ".length)}`);
  const etf = line.slice("BEAMIX-ETF ".length);
  const { config, imports } = decodeConfigEtf(Buffer.from(etf, "base64"), path);

  const files: Record<string, string> = {};
  for (const f of [path, ...imports]) {
    const h = await fileHash(f);
    if (h === undefined) return config; // a file vanished meanwhile: do not cache
    files[f] = h;
  }
  await mkdir(join(cacheDir(), "config"), { recursive: true });
  await writeFileAtomic(cachePath, JSON.stringify({ files, etf } satisfies CachedConfig));
  return config;
}

async function unchanged(files: Record<string, string>): Promise<boolean> {
  for (const [f, h] of Object.entries(files)) if ((await fileHash(f)) !== h) return false;
  return true;
}

// The script prints {Config, Imports}: Imports are the files the evaluation read besides the first.
// (priv/elixir/deps_project.ex answers the same term for `beamix deps`.)
export function decodeConfigEtf(etf: Buffer, where: string): { config: CompileConfig; imports: string[] } {
  let term: Term;
  try {
    term = binaryToTerm(etf);
  } catch (err) {
    throw new BeamixError(`${where}: the configuration holds a value beamix cannot record (${(err as Error).message})`);
  }
  if (term.type !== "tuple" || term.items.length !== 2) fail(where);
  const imports = (listView(term.items[1])?.items ?? []).map((t) => (t.type === "binary" ? t.value.toString("utf8") : ""));
  return { config: configFromKeywords(term.items[0], where), imports: imports.filter(Boolean) };
}

// [{app, [{key, value}, ...]}, ...] → { app: { key: value } }
export function configFromKeywords(term: Term, where: string): CompileConfig {
  const config: CompileConfig = {};
  for (const entry of listView(term)?.items ?? fail(where)) {
    if (entry.type !== "tuple" || entry.items.length !== 2 || entry.items[0].type !== "atom") fail(where);
    const app = (entry.items[0] as { value: string }).value;
    const keys: Record<string, Term> = (config[app] ??= {});
    for (const kv of listView(entry.items[1])?.items ?? fail(where)) {
      if (kv.type !== "tuple" || kv.items.length !== 2 || kv.items[0].type !== "atom") fail(where);
      keys[(kv.items[0] as { value: string }).value] = kv.items[1];
    }
  }
  return config;
}

function fail(where: string): never {
  throw new BeamixError(`${where}: configuration is not a keyword list of applications and keys`);
}
