// The real-world shapes corpus (test/fixtures/shapes/, see its README) as a signed registry on
// loopback, apart from the main corpus so the main registry's users do not build it.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fixturesDir, makeRegistry, type FixtureRegistry } from "./fixture-registry.ts";

export const shapesDir = join(fixturesDir, "shapes");

export async function makeShapesRegistry(dir: string): Promise<FixtureRegistry> {
  const dirs = (await readdir(shapesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(shapesDir, d.name)).sort();
  return makeRegistry(dir, dirs);
}
