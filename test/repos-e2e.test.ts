// A team's Hex setup, end to end through the CLI: two loopback repositories, a hexpm mirror (the
// fixture corpus, signed with its own key) and a private one that answers only requests carrying
// its auth key (the Hex vectors' registry, "vectors"). Repositories come from configuration:
// Hex's own hex.config, or `beamix repo add`; then plain commands need no flag, one lock mixes
// both repositories and is realized, and after one online run the same commands work offline
// and with both registries down.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beamix, type CliResult } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { buildTarball } from "../src/hex/tarball.ts";
import { buildRegistry } from "../src/hex/registry/build.ts";

const VECTORS = fileURLToPath(new URL("./vectors/hex/", import.meta.url));
const VECTORS_KEY = join(VECTORS, "registry", "public", "public_key");
const AUTH_KEY = "team-read-key";
const ORG_KEY = "acme-org-key";

let work: string;
let hexpm: FixtureRegistry;
let mirror: StaticServer;
let vectors: StaticServer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-repos-e2e-"));
  hexpm = await makeFixtureRegistry(join(work, "hexpm"));
  await makeOrganization(join(hexpm.dir, "repos", "acme"));
  // repo.hex.pm serves an organization under /repos/ORG, to requests that carry its key.
  mirror = await startStaticServer({ root: hexpm.dir, authKey: ORG_KEY, authUnder: "/repos/" });
  vectors = await startStaticServer({ root: join(VECTORS, "registry", "public"), authKey: AUTH_KEY });
});

after(async () => {
  await mirror?.close();
  await vectors?.close();
  await rm(work, { recursive: true, force: true });
});

// The organization "acme" of the hexpm mirror: signed with hexpm's key, records naming "acme";
// secret depends on beacon (hexpm) and on inner (acme).
async function makeOrganization(dir: string): Promise<void> {
  await mkdir(join(dir, "tarballs"), { recursive: true });
  const requirement = (name: string, repository: string) => ({ name, app: name, requirement: name === "beacon" ? "~> 1.1" : "~> 1.0", optional: false, repository });
  for (const [name, requirements] of [["inner", []], ["secret", [requirement("beacon", "hexpm"), requirement("inner", "acme")]]] as const) {
    const { tarball } = buildTarball({
      metadata: { name, version: "1.0.0", app: name, files: ["mix.exs"], licenses: [], buildTools: ["mix"], requirements: [...requirements], links: [], other: [] },
      files: [{ path: "mix.exs", mode: 0o100644, data: Buffer.from(`defmodule ${name === "inner" ? "Inner" : "Secret"}.MixProject do\nend\n`) }],
    });
    await writeFile(join(dir, "tarballs", `${name}-1.0.0.tar`), tarball);
  }
  await buildRegistry({ dir, name: "acme", privateKeyPem: hexpm.privateKeyPem });
}

// Nothing from the caller's own configuration: each setup has its own beamix config directory
// and HEX_HOME; the cache and the store are shared by the whole file (the offline tests need
// what the online ones cached).
function env(setup: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BEAMIX_CONFIG_DIR: join(work, setup, "beamix-config"),
    HEX_HOME: join(work, setup, "hex-home"),
    BEAMIX_CACHE_DIR: join(work, "cache"),
    BEAMIX_STORE: join(work, "store"),
    HEX_MIRROR: "",
    HEX_MIRROR_URL: "",
    HEX_OFFLINE: "",
    HEX_REPOS_KEY: "",
    HEX_CACERTS_PATH: "",
    BEAMIX_HEX_PUBLIC_KEY: "",
    MIX_ENV: "",
    ...extra,
  };
}

const run = (setup: string, args: string[], extra?: Record<string, string>) => beamix(args, { env: env(setup, extra), timeoutMs: 900_000 });

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

// One line naming what failed, exit 1, no stack trace.
function oneLineError(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], pattern);
}

// An Erlang binary literal as io_lib:print writes one.
const erlBinary = (s: string) => `<<"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}">>`;

// hex.config as `mix hex.repo add NAME URL --public-key FILE --auth-key KEY` leaves it (the vectors'
// consumer/hex_home/hex.config shows the layout).
async function writeHexConfig(setup: string): Promise<void> {
  const vectorsPem = await readFile(VECTORS_KEY, "utf8");
  const text =
    `{'$repos',#{<<"hexpm">> =>\n` +
    `                #{public_key =>\n                      ${erlBinary(hexpm.publicKeyPem)},\n                  url => ${erlBinary(mirror.url)}},\n` +
    `            <<"vectors">> =>\n` +
    `                #{auth_key => ${erlBinary(AUTH_KEY)},fetch_public_key => nil,\n` +
    `                  public_key =>\n                      ${erlBinary(vectorsPem)},\n` +
    `                  url => ${erlBinary(vectors.url)}}}}.\n`;
  await mkdir(join(work, setup, "hex-home"), { recursive: true });
  await writeFile(join(work, setup, "hex-home", "hex.config"), text);
}

// A Mix project with one dependency from each repository.
async function mixedProject(name: string): Promise<string> {
  const dir = join(work, "projects", name);
  await mkdir(join(dir, "lib"), { recursive: true });
  await writeFile(
    join(dir, "mix.exs"),
    `defmodule Mixed.MixProject do
  use Mix.Project

  def project do
    [app: :mixed, version: "0.1.0", elixir: "~> 1.14", deps: deps()]
  end

  defp deps do
    [{:beacon, "~> 1.1"}, {:vec_opt, "~> 0.1", repo: "vectors"}]
  end
end
`,
  );
  await writeFile(join(dir, "lib", "mixed.ex"), "defmodule Mixed do\n  def hello, do: :beacon.module_info(:module)\nend\n");
  return dir;
}

test("a hex.config written as Hex writes it is read: its repositories, keys and auth keys, no flag", async () => {
  await writeHexConfig("hex-config");
  const list = JSON.parse(ok(await run("hex-config", ["repo", "list", "--json"]), "repo list").stdout);
  const byName = Object.fromEntries(list.repositories.map((r: { name: string }) => [r.name, r]));
  assert.equal(byName.hexpm.url, mirror.url);
  assert.equal(byName.vectors.url, vectors.url);
  assert.equal(byName.vectors.publicKey, "SHA256:pZugzCzfGeiFaHW8EyE0C7wXVVYJvDFkZFux8yDjuj0"); // as mix hex.repo list printed it
  assert.equal(byName.vectors.authKey, true);
  const info = ok(await run("hex-config", ["hex", "info", "vec_opt", "--repo-name", "vectors", "--json"]), "hex info");
  assert.equal(JSON.parse(info.stdout).repository, "vectors");
  ok(await run("hex-config", ["hex", "info", "beacon"]), "hex info beacon from the configured hexpm mirror");
});

test("a private repository without its auth key: the request is refused with one clear line", async () => {
  ok(await run("no-key", ["repo", "add", "vectors", vectors.url, "--public-key", VECTORS_KEY]), "repo add");
  const r = await run("no-key", ["hex", "info", "vec_opt", "--repo-name", "vectors"]);
  oneLineError(r, /^beamix: registry vectors: .*\/packages\/vec_opt refused the request \(HTTP 401\): it needs an auth key, and none is configured \(beamix repo set vectors --auth-key KEY\)$/);
  ok(await run("no-key", ["repo", "set", "vectors", "--auth-key", "wrong"]), "repo set");
  oneLineError(await run("no-key", ["hex", "info", "vec_opt", "--repo-name", "vectors"]), /the configured auth key was not accepted/);
  // A key is never taken from the repository, and a private key is never stored as one.
  oneLineError(await run("no-key", ["repo", "add", "other", vectors.url]), /needs --public-key FILE: beamix never trusts a key served by the repository itself/);
  oneLineError(await run("no-key", ["repo", "add", "other", vectors.url, "--public-key", join(VECTORS, "registry", "private_key.pem")]), /not an RSA public key \(a private key/);
});

test("beamix repo add, then plain commands: one lock mixing hexpm and a private repository, realized by beamix deps", async () => {
  ok(await run("team", ["repo", "set", "hexpm", "--url", mirror.url, "--public-key", hexpm.publicKeyPath]), "repo set hexpm");
  ok(await run("team", ["repo", "add", "vectors", vectors.url, "--public-key", VECTORS_KEY, "--auth-key", AUTH_KEY]), "repo add vectors");
  const dir = await mixedProject("mixed");
  const locked = JSON.parse(ok(await run("team", ["lock", dir, "--json"]), "lock").stdout);
  assert.deepEqual(
    locked.packages.map((p: { package: string; repo: string }) => `${p.package}@${p.repo}`),
    ["beacon@hexpm", "vec_opt@vectors"],
  );
  const lock = await readFile(join(dir, "mix.lock"), "utf8");
  assert.match(lock, /^  "beacon": \{:hex, :beacon, "1\.2\.0", "[0-9a-f]{64}", \[:rebar3\], \[\], "hexpm", "[0-9a-f]{64}"\},$/m);
  assert.match(lock, /^  "vec_opt": \{:hex, :vec_opt, "0\.1\.0", "8887e463c3061a76c927fbac2c7d67330aefaaec8d887fd60f08a43e581bf7d7", \[:mix\], \[\], "vectors", "9dfabb6f8252e57026dc538a89c4f1dfcce733ba6317eeb7f589cfb4d21696fe"\},$/m);

  const deps = ok(await run("team", ["deps", dir, "--json", "--no-substitutes"]), "deps");
  const json = JSON.parse(deps.stdout) as { packages: { name: string; status: string }[]; failed: unknown[] };
  assert.deepEqual(json.failed, []);
  assert.deepEqual(json.packages.map((p) => p.name).sort(), ["beacon", "vec_opt"]);
  for (const app of ["beacon", "vec_opt"]) assert.ok((await readFile(join(dir, "deps", app, ".hex"))).length > 0, `deps/${app}/.hex`);
});

test("beamix lock reproduces the Hex vectors' consumer mix.lock byte for byte; --update keeps it, --unlock removes an entry", async () => {
  const dir = join(work, "projects", "vec_app");
  await mkdir(dir, { recursive: true });
  for (const f of ["mix.exs", ".formatter.exs", "config", "lib"]) await cp(join(VECTORS, "consumer", "vec_app", f), join(dir, f), { recursive: true });
  ok(await run("team", ["lock", dir]), "lock");
  const expected = await readFile(join(VECTORS, "consumer", "vec_app", "mix.lock"));
  assert.deepEqual(await readFile(join(dir, "mix.lock")), expected);
  ok(await run("team", ["lock", dir, "--update", "vec_core"]), "lock --update");
  assert.deepEqual(await readFile(join(dir, "mix.lock")), expected);
  ok(await run("team", ["lock", dir, "--unlock", "vec_opt"]), "lock --unlock");
  assert.doesNotMatch(await readFile(join(dir, "mix.lock"), "utf8"), /"vec_opt"/);
  ok(await run("team", ["lock", dir]), "lock again");
  assert.deepEqual(await readFile(join(dir, "mix.lock")), expected);
});

test("an organization hexpm:ORG: <hexpm URL>/repos/ORG, hexpm's key, its own auth key; its packages lock as hexpm:ORG", async () => {
  ok(await run("org", ["repo", "set", "hexpm", "--url", mirror.url, "--public-key", hexpm.publicKeyPath]), "repo set hexpm");
  // Not configured: as in Hex, it is the source's organization, without a key of its own.
  oneLineError(await run("org", ["hex", "info", "secret", "--repo-name", "hexpm:acme"]), /^beamix: registry hexpm:acme: .*\/repos\/acme\/packages\/secret refused the request \(HTTP 401\): it needs an auth key/);
  ok(await run("org", ["repo", "add", "hexpm:acme", "--auth-key", ORG_KEY]), "repo add hexpm:acme");
  const info = JSON.parse(ok(await run("org", ["hex", "info", "secret", "--repo-name", "hexpm:acme", "--json"]), "hex info").stdout);
  assert.equal(info.repository, "hexpm:acme");
  assert.deepEqual(info.releases[0].dependencies.map((d: { package: string; repository: string }) => `${d.package}@${d.repository}`), ["beacon@hexpm", "inner@hexpm:acme"]);
  const dir = join(work, "projects", "org_app");
  await mkdir(join(dir, "lib"), { recursive: true });
  await writeFile(join(dir, "mix.exs"), `defmodule OrgApp.MixProject do\n  use Mix.Project\n  def project, do: [app: :org_app, version: "0.1.0", deps: [{:secret, "~> 1.0", organization: "acme"}]]\nend\n`);
  ok(await run("org", ["lock", dir]), "lock");
  const lock = await readFile(join(dir, "mix.lock"), "utf8");
  assert.match(lock, /^  "beacon": \{:hex, :beacon, "1\.2\.0", .*, "hexpm", /m);
  assert.match(lock, /^  "inner": \{:hex, :inner, "1\.0\.0", "[0-9a-f]{64}", \[:mix\], \[\], "hexpm:acme", /m);
  assert.match(lock, /^  "secret": \{:hex, :secret, "1\.0\.0", "[0-9a-f]{64}", \[:mix\], \[\{:beacon, "~> 1\.1", \[hex: :beacon, repo: "hexpm", optional: false\]\}, \{:inner, "~> 1\.0", \[hex: :inner, repo: "hexpm:acme", optional: false\]\}\], "hexpm:acme", /m);
});

test("after one online run, the same commands succeed with --offline, HEX_OFFLINE=1, and with both registries down", async () => {
  const dir = join(work, "projects", "mixed");
  const lockBefore = await readFile(join(dir, "mix.lock"));
  ok(await run("team", ["build", "beacon"]), "build online");
  await mirror.close();
  await vectors.close();
  const again = async (extraArgs: string[], extraEnv?: Record<string, string>) => {
    await rm(join(dir, "mix.lock"));
    const r = ok(await run("team", ["lock", dir, ...extraArgs], extraEnv), `lock ${extraArgs.join(" ")}`);
    assert.deepEqual(await readFile(join(dir, "mix.lock")), lockBefore);
    return r;
  };
  assert.equal((await again(["--offline"])).stderr, "");
  assert.equal((await again([], { HEX_OFFLINE: "1" })).stderr, "");
  // Not told to be offline: each unreachable registry is said once, and the cached record used.
  const down = await again([]);
  const warnings = down.stderr.trimEnd().split("\n");
  assert.equal(warnings.length, 2, down.stderr);
  for (const w of warnings) assert.match(w, /^beamix: warning: registry (hexpm|vectors): .*; using the verified records cached before$/);
  assert.match(ok(await run("team", ["build", "beacon", "--offline"]), "build offline").stdout, /-beacon-2\.0\.0$/m);
  ok(await run("team", ["path", "beacon"]), "path with the registry down");
  ok(await run("team", ["deps", dir, "--offline", "--no-substitutes"]), "deps offline");
  // What was never cached is said, in one line.
  oneLineError(await run("team", ["hex", "info", "trellis", "--offline"]), /^beamix: registry hexpm: offline, and the record of package trellis is not in the cache \(run once online first\)$/);
});
