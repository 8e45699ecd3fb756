// The toolchains beamix knows of, for `beamix toolchain list`: the one on PATH, the one
// BEAMIX_TOOLCHAIN or the command line names, others the caller names (e.g. profiles' recorded
// ones), and those detected before (the detection cache) whose erl is still there. One entry per
// toolchain (same erl, elixir and rebar3), with every source that led to it.
import { existsSync } from "node:fs";
import { errorMessage } from "../errors.ts";
import { cacheDir } from "../config/paths.ts";
import { cachedToolchains } from "./cache.ts";
import { detectToolchain, type Toolchain } from "./detect.ts";
import type { DetectOptions } from "./locate.ts";

export interface KnownToolchain {
  sources: string[]; // "PATH", "BEAMIX_TOOLCHAIN", "profile …", "detected before", …
  toolchain?: Toolchain;
  error?: string; // the source names no usable toolchain
}

export interface ToolchainSource {
  source: string;
  options: DetectOptions;
}

const identity = (tc: Toolchain) => JSON.stringify([tc.paths.erl, tc.paths.elixir, tc.paths.rebar3]);

export async function knownToolchains(sources: readonly ToolchainSource[], opts: { cacheDir?: string | null } = {}): Promise<KnownToolchain[]> {
  const dir = opts.cacheDir === undefined ? cacheDir() : opts.cacheDir;
  const out: KnownToolchain[] = [];
  const byIdentity = new Map<string, KnownToolchain>();
  const add = (source: string, tc: Toolchain) => {
    const known = byIdentity.get(identity(tc));
    if (known) {
      if (!known.sources.includes(source)) known.sources.push(source);
      return;
    }
    const entry = { sources: [source], toolchain: tc };
    byIdentity.set(identity(tc), entry);
    out.push(entry);
  };
  for (const s of sources) {
    try {
      add(s.source, await detectToolchain({ ...s.options, cacheDir: dir }));
    } catch (err) {
      out.push({ sources: [s.source], error: errorMessage(err) });
    }
  }
  if (dir) for (const tc of await cachedToolchains(dir)) if (existsSync(tc.paths.erl)) add("detected before", tc);
  return out;
}
