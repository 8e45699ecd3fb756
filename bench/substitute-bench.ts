// The substitutes benchmark: (a) realizing the fixture closure from a warm binary cache served
// on loopback into an empty store, against building it cold (goal: at least 30x faster); (b)
// the time to check 100 items whose records are already present (goal: under 50 ms): the
// presence check realize makes for each planned item, and, separately, parsing and verifying
// 100 signed records.
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openStore } from "../src/store/store.ts";
import { generateKeyPair, parsePublicKey, parseSecretKey } from "../src/signing/keys.ts";
import { formatRecord, parseRecord, signRecord, verifyRecord, type SubstituteRecord } from "../src/substitute/format/record.ts";
import { startSubstituteServer } from "../src/substitute/server/serve.ts";
import { beamixCli, checked, consumerConfigArgs, repoArgs, serveCorpus } from "./beamix-build.ts";

export interface SubstituteTimes {
  coldSeconds: number;
  substituteSeconds: number;
  substitutedItems: number;
  builtItems: number;
  presentCheckMs: number; // 100 items: temporary root + validity, as realize does
  verifyRecordsMs: number; // 100 records: parse + Ed25519 verification
  cacheDir: string; // the published cache, for the serve load test
  publicKeyPath: string;
  storeDir: string; // the store it was published from (serve --store), and the key that signed it
  secretKeyPath: string;
}

const jsonOf = (output: string) => JSON.parse(output.slice(output.indexOf("{"), output.lastIndexOf("}") + 1)) as { built: number; substituted?: number };

export async function measureSubstitutes(corpus: { packageDirs: string[]; consumerDir: string }, workDir: string): Promise<SubstituteTimes> {
  const served = await serveCorpus(corpus.packageDirs, join(workDir, "repo"));
  const keys = join(workDir, "keys");
  await mkdir(keys, { recursive: true });
  try {
    const common = [...served.packages, ...repoArgs(served), ...(await consumerConfigArgs(corpus.consumerDir))];
    checked(await beamixCli(["key", "generate", "bench", "-o", keys], workDir), "key generate");
    const cold = checked(await beamixCli(["build", ...common, "--store", join(workDir, "store-a"), "--no-substitutes", "--json"], workDir), "cold build");
    const cache = join(workDir, "cache-dir");
    checked(await beamixCli(["publish", ...common, "--store", join(workDir, "store-a"), "--to", `file://${cache}`, "--sign-with", join(keys, "bench.secret")], workDir), "publish");

    const server = await startSubstituteServer({ source: { kind: "cache", dir: cache }, host: "127.0.0.1", port: 0 });
    try {
      const args = ["build", ...common, "--store", join(workDir, "store-b"), "--substituters", server.url, "--trusted-key", join(keys, "bench.public"), "--json"];
      const subst = checked(await beamixCli(args, workDir), "build from the cache");
      const result = jsonOf(subst.output);
      return {
        coldSeconds: cold.seconds,
        substituteSeconds: subst.seconds,
        substitutedItems: result.substituted ?? 0,
        builtItems: result.built,
        ...(await measureChecks(workDir)),
        cacheDir: cache,
        publicKeyPath: join(keys, "bench.public"),
        storeDir: join(workDir, "store-a"),
        secretKeyPath: join(keys, "bench.secret"),
      };
    } finally {
      await server.close();
    }
  } finally {
    await served.server.close();
  }
}

// 100 small items in a store, and 100 signed records.
async function measureChecks(workDir: string): Promise<{ presentCheckMs: number; verifyRecordsMs: number }> {
  const store = await openStore(join(workDir, "store-100"));
  try {
    const paths: string[] = [];
    for (let i = 0; i < 100; i++) {
      const staging = await store.createStagingDir();
      await mkdir(join(staging, "lib"), { recursive: true });
      const drvHash = i.toString(16).padStart(64, "0");
      const item = await store.register({ drvHash, name: `pkg${i}`, version: "1.0.0", stagingDir: staging });
      paths.push(item.path);
    }
    const t0 = performance.now();
    for (const p of paths) {
      await store.addTempRoot(p);
      if (!store.isValid(p)) throw new Error(`${p} should be valid`);
    }
    const presentCheckMs = performance.now() - t0;

    const pair = generateKeyPair("bench");
    const secret = parseSecretKey(pair.secretText);
    const trusted = [parsePublicKey(pair.publicText)];
    const texts = paths.map((p, i) => {
      const r: SubstituteRecord = {
        name: `pkg${i}`,
        version: "1.0.0",
        drvHash: i.toString(16).padStart(64, "0"),
        url: `archives/${"a".repeat(64)}.nar.zst`,
        compression: "zstd",
        fileHash: "b".repeat(64),
        fileSize: 1000,
        narHash: "c".repeat(64),
        narSize: 4000,
        references: [],
        signatures: [],
      };
      return formatRecord(signRecord(r, secret));
    });
    const t1 = performance.now();
    for (const t of texts) if (!verifyRecord(parseRecord(t, "bench"), trusted, 1).ok) throw new Error("record does not verify");
    return { presentCheckMs, verifyRecordsMs: performance.now() - t1 };
  } finally {
    await store.close();
  }
}

// Run alone: node bench/substitute-bench.ts
if (import.meta.filename === process.argv[1]) {
  const { fixtureCorpus } = await import("./corpora.ts");
  const work = await mkdtemp(join((await import("node:os")).tmpdir(), "beamix-bench-subst-"));
  try {
    console.log(await measureSubstitutes(fixtureCorpus(), work));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
