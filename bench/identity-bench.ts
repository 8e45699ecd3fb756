// One identity across commands (issue 10), on a corpus's closure: `beamix deps` of the consumer
// in a store that ran `beamix install` of the same packages with the consumer's config (goal:
// nothing built), and `beamix deps` in a fresh store from a cache filled by `beamix publish`
// (goal: everything substituted).
// Counts, not times: a miss here is a package compiled twice.
import { cp, mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { HexRepo } from "../src/hex/registry/client.ts";
import { formatMixLock } from "../src/mix/lock.ts";
import { writeKeyPair } from "../src/signing/keys.ts";
import { beamixCli, checked, consumerConfigArgs, repoArgs, serveCorpus } from "./beamix-build.ts";
import { lockFor, type DepsCorpus } from "./deps-bench.ts";
import type { RunResult } from "./mix-baseline.ts";

export interface IdentityCounts {
  packages: number; // in the consumer's locked closure
  builtByDepsAfterInstall: number;
  substitutedByDepsFromPublish: number;
}

function statuses(r: RunResult, what: string): string[] {
  checked(r, what);
  const json = JSON.parse(r.output.slice(r.output.indexOf("{"), r.output.lastIndexOf("}") + 1)) as { packages: { status: string }[] };
  return json.packages.map((p) => p.status);
}

export async function measureIdentity(workDir: string, corpus: DepsCorpus): Promise<IdentityCounts> {
  await mkdir(workDir, { recursive: true });
  const served = await serveCorpus(corpus.packageDirs, join(workDir, "repo"));
  try {
    const repo = new HexRepo({ name: "hexpm", url: served.server.url, publicKeyPem: served.registry.publicKeyPem, cacheDir: join(workDir, "lock-cache") });
    const template = join(workDir, "template", basename(corpus.consumerDir));
    await cp(corpus.consumerDir, template, { recursive: true });
    await writeFile(join(template, "mix.lock"), formatMixLock(await lockFor(repo, corpus.roots)));
    // A profile has no project config: the install is compared with the consumer's config
    // emptied; publish builds for the consumer's config (--config), as a CI job would.
    const project = async (where: string, emptyConfig = false) => {
      const dir = join(workDir, where, basename(template));
      await cp(template, dir, { recursive: true });
      if (emptyConfig) {
        await mkdir(join(dir, "config"), { recursive: true });
        await writeFile(join(dir, "config", "config.exs"), "import Config\n");
      }
      return dir;
    };
    const specs = corpus.roots.map((r) => `${r.name}@${r.requirement}`);
    const config = await consumerConfigArgs(template);
    const repo_ = repoArgs(served);

    // One machine: install the consumer's dependencies, then restore them into the project.
    const a = join(workDir, "a");
    const fresh = join(workDir, "fresh");
    for (const d of [a, fresh]) await mkdir(d, { recursive: true });
    const store = ["--store", join(a, "store")];
    checked(await beamixCli(["install", ...specs, ...store, ...repo_, "--profile", join(a, "profile"), "--no-substitutes"], a), "beamix install");
    const afterInstall = statuses(await beamixCli(["deps", await project("a", true), "--env", "prod", ...store, ...repo_, "--json"], a), "beamix deps after install");

    // The same machine publishes the closure for the consumer's config; a fresh one restores the
    // consumer from there.
    const keys = await writeKeyPair("bench-identity-1", join(workDir, "keys"));
    const cache = join(workDir, "cache");
    checked(await beamixCli(["publish", ...specs, ...config, ...store, ...repo_, "--to", `file://${cache}`, "--sign-with", keys.secretPath, "--no-substitutes"], a), "beamix publish");
    const fromPublish = statuses(
      await beamixCli(["deps", await project("fresh"), "--env", "prod", "--store", join(fresh, "store"), ...repo_, "--substituters", `file://${cache}`, "--trusted-key", keys.publicPath, "--json"], fresh),
      "beamix deps from a publish cache",
    );
    return {
      packages: afterInstall.length,
      builtByDepsAfterInstall: afterInstall.filter((s) => s === "built").length,
      substitutedByDepsFromPublish: fromPublish.filter((s) => s === "substituted").length,
    };
  } finally {
    await served.server.close();
  }
}
