// The native fixture packages that build on their own (test/fixtures/native-packages: yamlcount
// and the elixir_make, cc_precompiler and rustler_precompiled stand-ins) build in dependency
// order, outside beamix, and pass their own tests, as test/fixtures-own-tests.test.ts does for
// the main corpus. ccnif and rsnif need the archives test/precompiled-e2e.test.ts serves.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { FixtureBuilder, plan, readFixtureTables } from "./support/fixture-build.ts";
import { fixturesDir } from "./support/fixture-registry.ts";

const { packages } = readFixtureTables(path.join(fixturesDir, "native-packages", "README.md"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "beamix-native-fixtures-"));
const roots = packages.filter((p) => !["ccnif", "rsnif"].includes(p.name));
const plans = roots.map((fx) => plan(fx, packages));
const builder = new FixtureBuilder({ work, concurrency: 2, testKeys: new Set(plans.map((p) => p.key)) });

after(() => fs.rmSync(work, { recursive: true, force: true }));

test("every directory of native-packages is in its README's table", () => {
  const dirs = fs.readdirSync(path.join(fixturesDir, "native-packages")).filter((d) => d !== "README.md");
  assert.deepEqual(packages.map((p) => path.basename(p.dir)).sort(), dirs.sort());
});

for (const node of plans) {
  test(`${node.fixture.name} ${node.fixture.version} builds and passes its own tests`, async () => {
    const o = await builder.realize(node);
    assert.ok(o.built && o.tested, o.log.split("\n").slice(-40).join("\n"));
  });
}
