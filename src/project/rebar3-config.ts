// A rebar3 project's configuration as rebar3 reads it (rebar_config:consult_root/0):
// rebar.config's terms, or, when rebar.config.script exists, the value of that script
// evaluated with CONFIG bound to them and SCRIPT to its path. A script is code, so it is run
// in the reader sandbox (./reader-sandbox.ts), like a mix.exs; without one, rebar.config is
// only read as terms.
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";
import { glob } from "./files.ts";
import { pairsOf } from "./term-json.ts";
import { firstLine } from "./run-script.ts";
import { runReader } from "./reader-sandbox.ts";
import { termFromJson } from "./term-json.ts";

export interface Rebar3Config {
  pairs: [string, Term][]; // the {Key, Value} entries, in order (other terms are skipped)
  scripted: boolean; // the pairs come from rebar.config.script
}

// DIR's configuration; an empty one when it has neither file.
export async function readRebar3Config(dir: string): Promise<Rebar3Config> {
  const scripted = (await glob(dir, "rebar.config.script", { matchDot: false })).length > 0;
  const what = join(dir, scripted ? "rebar.config.script" : "rebar.config");
  const out = await runReader(dir, what, (p) => ["escript", `${p.priv}/erlang/consult_json.escript`, "--rebar-config", p.pkg]);
  const line = out.output.split("\n").find((l) => l.startsWith("BEAMIX-JSON ") || l.startsWith("BEAMIX-ERROR "));
  if (line === undefined) throw new BeamixError(`${what}: could not be read: ${out.failure ?? `escript exited with ${out.code}`}: ${out.hostPaths(firstLine(out.output))}`.replace(/: $/, ""));
  if (line.startsWith("BEAMIX-ERROR ")) throw new BeamixError(`${join(dir, out.hostPaths(line.slice("BEAMIX-ERROR ".length).trim()))}`);
  let term: Term;
  try {
    term = termFromJson(JSON.parse(line.slice("BEAMIX-JSON ".length)), what);
  } catch (err) {
    throw new BeamixError(`${what}: the reader's answer cannot be used: ${(err as Error).message}`);
  }
  return { pairs: pairsOf(term) ?? [], scripted };
}
