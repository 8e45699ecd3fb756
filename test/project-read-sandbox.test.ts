// A package directory's mix.exs is code that runs when it is read: it is read inside the build
// sandbox, with no network, no host secrets and nothing writable outside a scratch directory
// (src/project/reader-sandbox.ts). Where bubblewrap cannot run, reading fails as a build does,
// and --no-sandbox reads as it builds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readPackageDir } from "../src/project/package-dir.ts";
import { sandboxAvailable, sandboxUnavailableMessage } from "../src/sandbox/bwrap.ts";
import { beamix } from "./support/cli.ts";

const check = await sandboxAvailable();
const skip = check.available ? false : sandboxUnavailableMessage(check.reason);

let tmp: string;
let server: Server;
let connections = 0;
let port = 0;

before(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-read-sandbox-")));
  server = createServer((s) => {
    connections++;
    s.on("error", () => {}); // the reader closes without reading
    s.end("hello\n");
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await new Promise((res) => server.close(res));
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
// A Mix package whose mix.exs, as it loads, reads a file of the user's home, an environment
// variable, writes a file outside the package and connects to a port on the host, and reports
// what it got in its description.
function probePackage(): { dir: string; home: string; marker: string } {
  const base = join(tmp, `case-${++n}`);
  const dir = join(base, "probe");
  const home = join(base, "home");
  const marker = join(base, "marker-written-by-mix-exs");
  mkdirSync(join(dir, "lib"), { recursive: true });
  mkdirSync(home);
  writeFileSync(join(home, "secret.txt"), "hunter2-home\n");
  writeFileSync(join(dir, "lib", "probe.ex"), "defmodule Probe do\n  def hello, do: :world\nend\n");
  writeFileSync(
    join(dir, "mix.exs"),
    `defmodule Probe.MixProject do
  use Mix.Project

  @home_secret (case File.read(${JSON.stringify(join(home, "secret.txt"))}) do
                  {:ok, s} -> String.trim(s)
                  {:error, r} -> "unreadable(#{r})"
                end)
  @env_secret System.get_env("BEAMIX_TEST_SECRET") || "unset"
  @wrote (case File.write(${JSON.stringify(marker)}, "mix.exs ran here") do
            :ok -> "wrote"
            {:error, r} -> "refused(#{r})"
          end)
  @net (case :gen_tcp.connect({127, 0, 0, 1}, ${port}, [:binary, active: false], 3000) do
          {:ok, s} -> :gen_tcp.close(s); "connected"
          {:error, r} -> "no-network(#{r})"
        end)
  @user_home System.user_home() || "none"

  def project do
    [
      app: :probe,
      version: "0.1.0",
      description: "home=#{@home_secret} env=#{@env_secret} write=#{@wrote} net=#{@net} user_home=#{@user_home}",
      deps: [],
      package: [licenses: ["Apache-2.0"]]
    ]
  end
end
`,
  );
  return { dir, home, marker };
}

test("reading a mix.exs: no host file, secret, write outside the package or network", { skip }, async () => {
  const { dir, marker } = probePackage();
  process.env.BEAMIX_TEST_SECRET = "hunter2-env";
  let description: string | undefined;
  try {
    description = (await readPackageDir(dir)).metadata.description;
  } finally {
    delete process.env.BEAMIX_TEST_SECRET;
  }
  assert.ok(description !== undefined);
  assert.doesNotMatch(description, /hunter2/, description);
  assert.match(description, /home=unreadable\(enoent\)/);
  assert.match(description, /env=unset/);
  assert.match(description, /write=refused\((erofs|enoent|eacces)\)/);
  assert.match(description, /net=no-network\(/);
  assert.doesNotMatch(description, new RegExp(`user_home=${process.env.HOME ?? "/root"}( |$)`));
  assert.equal(existsSync(marker), false, "the marker mix.exs tried to write outside the package");
  assert.equal(connections, 0, "a connection reached the host");
});

test("beamix build DIR: mix.exs is read and built without the user's home, environment or network", { skip }, async () => {
  const { dir, home, marker } = probePackage();
  const r = await beamix(["build", dir, "--store", join(tmp, "store"), "--json"], {
    env: { HOME: home, BEAMIX_TEST_SECRET: "hunter2-env", BEAMIX_CACHE_DIR: join(tmp, "cache"), TMPDIR: tmp },
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(marker), false, "the marker mix.exs tried to write outside the package");
  assert.equal(connections, 0, "a connection reached the host");
});

// A PATH with everything of /usr/bin but bwrap: bubblewrap is "not installed".
function pathWithoutBwrap(): string {
  const bin = join(tmp, "bin-without-bwrap");
  if (!existsSync(bin)) {
    mkdirSync(bin);
    for (const name of readdirSync("/usr/bin")) if (name !== "bwrap") symlinkSync(join("/usr/bin", name), join(bin, name));
  }
  return bin;
}

test("where bubblewrap cannot run, reading a package directory fails as a build does; --no-sandbox reads it", { skip }, async () => {
  const { dir } = probePackage();
  const env = { PATH: pathWithoutBwrap(), BEAMIX_CACHE_DIR: join(tmp, "cache-nobwrap"), TMPDIR: tmp };
  const store = join(tmp, "store-nobwrap");
  const r = await beamix(["build", dir, "--store", store], { env, timeoutMs: 300_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^beamix: cannot read ${dir}/mix\\.exs: bubblewrap cannot run here: .*bwrap.*; use --no-sandbox to build without it\\n$`));
  const unsandboxed = await beamix(["build", dir, "--store", store, "--no-sandbox", "--json"], { env, timeoutMs: 300_000 });
  assert.equal(unsandboxed.code, 0, unsandboxed.stderr);
  // Every command that builds takes the same choice (here: install into a profile).
  const installed = await beamix(["install", dir, "--store", store, "--profile", join(tmp, "profile-nobwrap"), "--no-sandbox"], { env, timeoutMs: 300_000 });
  assert.equal(installed.code, 0, installed.stderr);
});
