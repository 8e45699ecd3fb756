// The two corpora the benchmarks measure: the fixture closure (test/fixtures, the closure of the
// `webapp` consumer) and a generated closure with the Phoenix closure's shape and size.
import { performance } from "node:perf_hooks";
import { readFixtureTables, resolveClosure } from "../test/support/fixture-build.ts";
import { generateClosure } from "./generate-closure.ts";

export interface Corpus {
  name: string;
  consumerDir: string;
  packageDirs: string[];
  notes: string[];
}

export function fixtureCorpus(): Corpus {
  const { packages, consumers } = readFixtureTables();
  const webapp = consumers.find((c) => c.name === "webapp");
  if (webapp === undefined) throw new Error("test/fixtures/README.md has no webapp consumer");
  const closure = [...resolveClosure(webapp, packages).values()];
  return {
    name: "fixtures",
    consumerDir: webapp.dir,
    packageDirs: closure.map((f) => f.dir),
    notes: [`closure of test/fixtures/consumers/webapp: ${closure.map((f) => `${f.name}-${f.version}`).join(", ")}`],
  };
}

export async function generatedCorpus(dir: string, seed: number, scale: number): Promise<Corpus> {
  const start = performance.now();
  const closure = await generateClosure(dir, { seed, scale });
  const seconds = (performance.now() - start) / 1000;
  return {
    name: "generated",
    consumerDir: closure.consumer.dir,
    packageDirs: closure.packages.map((p) => p.dir),
    notes: [
      `bench/generate-closure.ts seed ${seed}, scale ${scale}: ${closure.packages.length} packages, ` +
        `${closure.modules} modules, ${closure.sourceLines} source lines, generated in ${seconds.toFixed(2)} s`,
    ],
  };
}
