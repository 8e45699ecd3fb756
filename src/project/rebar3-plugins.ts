// The rebar3 plugins a package builds with, as rebar3 installs them (rebar_plugins.erl): the
// `plugins` of its configuration (rebar.config, or rebar.config.script evaluated, see
// ./rebar3-config.ts) and of the `prod` profile, the profile a dependency is built with.
// Each is a Hex package: `Name`, `{Name, "Vsn"}`, `{Name, {pkg, Pkg}}` or
// `{Name, "Vsn", {pkg, Pkg}}`. A version without an operator is an exact one, as rebar3 reads
// it. Plugins fetched from elsewhere (git, hg) are not Hex packages; they are reported, and a
// definition file can name a Hex replacement in `buildInputs`.
import { mkdir, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cacheDir } from "../config/paths.ts";
import { chosenToolchain } from "../toolchain/choice.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { sha256Hex } from "../util/sha256.ts";
import { BeamixError } from "../errors.ts";
import { parseTerms } from "../erlang/parse.ts";
import type { Term } from "../erlang/term.ts";
import { readTarball } from "../hex/tarball.ts";
import { readContents, unpackTarball } from "../hex/unpack.ts";
import { removeTree } from "../store/perms.ts";
import { readRebar3Config } from "./rebar3-config.ts";
import { atomOf, getKey, itemsOf, pairsOf, textOf } from "./term-json.ts";

export interface PluginRequirement {
  name: string; // Hex package
  app: string;
  requirement: string; // an Elixir requirement
}

export interface Plugins {
  hex: PluginRequirement[];
  other: string[]; // plugins that are not Hex packages, by name
}

// rebar3's "1.2.0" is exact; "~> 1.2", ">= 1.0" and the like are requirements already.
const requirementOf = (vsn: string): string => (/^\s*(~>|==|!=|>=|<=|>|<)/.test(vsn) ? vsn.trim() : `== ${vsn.trim()}`);

export function pluginsOfConfig(pairs: [string, Term][], where: string): Plugins {
  const prod = pairsOf(getKey(pairsOf(getKey(pairs, "profiles")) ?? [], "prod"));
  const entries = [...(itemsOf(getKey(pairs, "plugins")) ?? []), ...(itemsOf(getKey(prod ?? [], "plugins")) ?? [])];
  const out: Plugins = { hex: [], other: [] };
  for (const e of entries) {
    let app = atomOf(e) ?? textOf(e);
    let vsn: string | null = null;
    let pkg: string | null = null;
    let foreign = false;
    if (e.type === "tuple" && e.items.length >= 2 && e.items.length <= 4) {
      app = atomOf(e.items[0]) ?? textOf(e.items[0]);
      vsn = textOf(e.items[1]);
      const src = vsn === null ? e.items[1] : e.items[2];
      if (src !== undefined) {
        if (src.type === "tuple" && atomOf(src.items[0]) === "pkg" && src.items.length >= 2) pkg = atomOf(src.items[1]) ?? textOf(src.items[1]);
        else foreign = true;
      }
    }
    if (app === null) throw new BeamixError(`${where}: cannot read plugin entry ${JSON.stringify(e)}`);
    if (foreign) {
      out.other.push(app);
      continue;
    }
    const name = pkg ?? app;
    if (out.hex.some((p) => p.name === name)) continue;
    out.hex.push({ name, app, requirement: vsn === null || vsn === "" ? ">= 0.0.0" : requirementOf(vsn) });
  }
  return out;
}

// The plugins of a package tarball. rebar.config is read as terms here; a rebar.config.script
// has to run, so the package is unpacked and the script evaluated in the reader sandbox. That
// takes an Erlang VM, so its answer is kept under the cache directory, by the package's inner
// checksum and the OTP it ran on (scripts look at otp_release); nothing else reaches it.
export async function pluginsOfTarball(tarball: Uint8Array, where: string): Promise<Plugins> {
  const read = readTarball(tarball, { file: where });
  const entries = readContents(read.contentsGz, { label: `${where}: contents.tar.gz` });
  const file = (path: string) => entries.find((e) => e.path === path);
  if (file("rebar.config.script") === undefined) {
    const config = file("rebar.config");
    if (config?.type !== "file") return { hex: [], other: [] };
    const at = `${where}: rebar.config`;
    const terms = parseTerms(config.data.toString("utf8"), at);
    return pluginsOfConfig(pairsOf({ type: "list", items: terms }) ?? [], at);
  }
  const tc = await chosenToolchain();
  const cached = join(cacheDir(), "rebar3-plugins", `${sha256Hex(`${read.innerChecksum}\0${tc.otpVersion}\0${tc.ertsVersion}`)}.json`);
  const known = await readFile(cached, "utf8").then((t) => JSON.parse(t) as Plugins, () => undefined);
  if (known && Array.isArray(known.hex) && Array.isArray(known.other)) return known;
  const scratch = await mkdtemp(join(tmpdir(), "beamix-rebar-config-"));
  let plugins: Plugins;
  try {
    const dir = join(scratch, "package");
    await unpackTarball(tarball, dir, { file: where });
    const config = await readRebar3Config(dir).catch((err: unknown) => {
      throw new BeamixError(`${where}: ${(err as Error).message.replace(`${dir}/`, "")}`);
    });
    plugins = pluginsOfConfig(config.pairs, `${where}: rebar.config.script`);
  } finally {
    await removeTree(scratch);
  }
  await mkdir(dirname(cached), { recursive: true });
  await writeFileAtomic(cached, JSON.stringify(plugins));
  return plugins;
}
