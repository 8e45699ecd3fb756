// Definition files override automatic definitions: from a -L directory, or given as the spec.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beamix } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";

let work: string;
let registry: FixtureRegistry;
let server: StaticServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-defs-"));
  registry = await makeFixtureRegistry(join(work, "repo"));
  server = await startStaticServer({ root: registry.dir });
});

after(async () => {
  await server?.close();
  await rm(work, { recursive: true, force: true });
});

const common = () => ["--store", join(work, "store"), "--repo", server.url, "--public-key", registry.publicKeyPath, "--json"];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "cache"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

async function buildPath(args: string[]): Promise<string> {
  const r = await beamix(["build", ...args, ...common()], { env: env(), timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { roots: { path: string }[] }).roots[0].path;
}

test("a -L directory's function edits the automatic definition: environment and an added phase", async () => {
  const plain = await buildPath(["beacon@~> 1.2"]);
  const defs = join(work, "defs");
  await mkdir(defs, { recursive: true });
  await writeFile(
    join(defs, "beacon.ts"),
    `import type { Definition } from "../../src/derivation/definition.ts";
export default (auto: Definition): Definition => ({
  ...auto,
  arguments: {
    ...auto.arguments,
    env: { ...auto.arguments.env, BEACON_GREETING: "hello from a definition" },
    phases: [...auto.arguments.phases, { op: "add", name: "greet", after: "build", shell: "mkdir -p priv && printf '%s' \\"$BEACON_GREETING\\" > priv/greeting.txt" }],
  },
});
`,
  );
  const edited = await buildPath(["beacon@~> 1.2", "-L", defs]);
  assert.notEqual(edited, plain, "an edited definition is another derivation");
  assert.equal(await readFile(join(edited, "lib/erlang/lib/beacon-1.2.0/priv/greeting.txt"), "utf8"), "hello from a definition");

  // The edit changes beacon and what depends on it, and nothing else.
  const paths = async (extra: string[]) => {
    const r = await beamix(["path", "trellis", "mimetable", ...extra, ...common()], { env: env() });
    return (JSON.parse(r.stdout) as { path: string }[]).map((x) => x.path);
  };
  const [trellisPlain, mimePlain] = await paths([]);
  const [trellisEdited, mimeEdited] = await paths(["-L", defs]);
  assert.notEqual(trellisEdited, trellisPlain);
  assert.equal(mimeEdited, mimePlain);

  const missing = await beamix(["path", "beacon", "-L", join(work, "no-such-dir"), ...common()], { env: env() });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /definition directory .*no-such-dir: does not exist/);
});

test("a whole definition given as the spec pins its version and is validated", async () => {
  const info = await beamix(["hex", "info", "beacon", "--repo", server.url, "--public-key", registry.publicKeyPath, "--json"], { env: env() });
  const release = (JSON.parse(info.stdout) as { releases: { version: string; innerChecksum: string }[] }).releases.find((r) => r.version === "1.1.0")!;
  const file = join(work, "beacon-1.1.0.ts");
  await writeFile(
    file,
    `export default {
  name: "beacon",
  version: "1.1.0",
  source: { type: "hex", repo: "hexpm", innerChecksum: "${release.innerChecksum}" },
  buildSystem: "rebar3",
};
`,
  );
  const path = await buildPath([file]);
  assert.match(path, /-beacon-1\.1\.0$/);

  const bad = join(work, "bad.ts");
  await writeFile(bad, `export default { name: "beacon", version: "1.1.0", buildSystem: "cmake" };\n`);
  const r = await beamix(["build", bad, ...common()], { env: env() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.ts: .*source: missing.*buildSystem: must be one of mix, rebar3, make/);

  const wrong = join(work, "wrong-checksum.ts");
  await writeFile(wrong, `export default { name: "beacon", version: "1.1.0", buildSystem: "rebar3", source: { type: "hex", innerChecksum: "${"0".repeat(64)}" } };\n`);
  const w = await beamix(["build", wrong, ...common()], { env: env() });
  assert.equal(w.code, 1);
  assert.match(w.stderr, /wrong-checksum\.ts: source checksum 0+ does not match the registry's/);
});
