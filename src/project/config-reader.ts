// A Mix project's compile-time configuration: config/config.exs (and whatever it imports for the
// environment) evaluated by Elixir's own Config.Reader, as Mix would, then read back as terms.
import { join, resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import { binaryToTerm } from "../erlang/etf.ts";
import { listView, type Term } from "../erlang/term.ts";
import type { CompileConfig } from "../derivation/config.ts";
import { PRIV_DIR, firstLine, runTool } from "./run-script.ts";

export async function readConfigFile(file: string, mixEnv: string): Promise<CompileConfig> {
  const path = resolve(file);
  const out = await runTool("elixir", [join(PRIV_DIR, "elixir", "read_config.exs"), path, mixEnv], { ...process.env, MIX_ENV: mixEnv });
  const line = out.stdout.split("\n").find((l) => l.startsWith("BEAMIX-ETF ") || l.startsWith("BEAMIX-ERROR "));
  if (!line) throw new BeamixError(`${path}: could not be read: ${firstLine(out.stderr) || `elixir exited with ${out.code}`}`);
  if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${path}: ${line.slice("BEAMIX-ERROR ".length)}`);
  let term: Term;
  try {
    term = binaryToTerm(Buffer.from(line.slice("BEAMIX-ETF ".length), "base64"));
  } catch (err) {
    throw new BeamixError(`${path}: the configuration holds a value beamix cannot record (${(err as Error).message})`);
  }
  return configFromKeywords(term, path);
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
