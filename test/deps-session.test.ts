// `beamix deps` asks Mix everything in one Elixir VM (openMixSession, priv/elixir/deps_session.exs):
// the project, its compile-time config, a path or git dependency's declarations and the
// mix.rebar.config of rebar3 packages. The answers and the failures must be those of the
// one-question scripts (readMixProject, readConfigFile, readDepChildren, mixRebarConfig).
import { test } from "node:test";
import assert from "node:assert/strict";
import { enableCompileCache, getCompileCacheDir } from "node:module";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openMixSession, mixRebarConfig, readDepChildren, readMixProject } from "../src/deps/mix-query.ts";
import { readConfigFile } from "../src/project/config-reader.ts";
import { int } from "../src/erlang/term.ts";
import { chooseToolchain } from "../src/toolchain/choice.ts";
import { detectToolchain } from "../src/toolchain/detect.ts";
import { chmod, realpath } from "node:fs/promises";

const VEC = fileURLToPath(new URL("./vectors/hex/", import.meta.url));

// The helpers are compiled into this test's own compile cache (as the CLI's): the first session
// fills it, later ones load from it.
const compileCache = await mkdtemp(join(tmpdir(), "beamix-session-cc-"));
enableCompileCache(compileCache);
const helpers = join(getCompileCacheDir()!, "beamix-elixir");

const mixExs = (mod: string, body: string) => `defmodule ${mod}.MixProject do\n  use Mix.Project\n  ${body}\nend\n`;

// A project whose mix.exs and whose path dependency's mix.exs note the OS pid of the VM that
// reads them.
async function project(dir: string): Promise<void> {
  await mkdir(join(dir, "config"), { recursive: true });
  await mkdir(join(dir, "local"), { recursive: true });
  const note = (name: string) => `File.write!(Path.join(${JSON.stringify(dir)}, "${name}.pid"), System.pid())`;
  await writeFile(
    join(dir, "mix.exs"),
    `${note("project")}\n` + mixExs("S", `def project, do: [app: :s, version: "0.1.0", deps: [{:local, path: "local"}, {:beacon, "~> 1.2", only: :prod}]]`),
  );
  await writeFile(join(dir, "local", "mix.exs"), `${note("local")}\n` + mixExs("Local", `def project, do: [app: :local, version: "0.2.0", deps: [{:jsonish, "~> 0.3"}]]`));
  await writeFile(join(dir, "config", "config.exs"), 'import Config\nconfig :s, a: 1\nimport_config "#{config_env()}.exs"\n');
  await writeFile(join(dir, "config", "prod.exs"), "import Config\nconfig :s, b: 2\n");
}

test("one VM answers the project, its config, a path dependency's declarations and a mix.rebar.config, as the one-question scripts do", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-session-"));
  const saved = process.env.BEAMIX_CACHE_DIR;
  process.env.BEAMIX_CACHE_DIR = join(dir, "cache");
  try {
    await project(dir);
    const rebarDir = join(VEC, "sources", "vec_erl-1.1.0");
    for (let run = 0; run < 2; run++) {
      const mix = openMixSession(dir, "prod");
      try {
        const p = await mix.project;
        const config = await mix.config;
        const local = await mix.children("local", join(dir, "local"), "prod");
        const rebar = await mix.rebarConfig("vec_erl", rebarDir);
        // mix.exs and the dependency's were read by the same VM.
        assert.equal(await readFile(join(dir, "local.pid"), "utf8"), await readFile(join(dir, "project.pid"), "utf8"));

        assert.deepEqual(p, await readMixProject(dir, "prod"));
        assert.deepEqual(p.deps.map((d) => d.app), ["local", "beacon"]);
        assert.deepEqual(config, { s: { a: int(1), b: int(2) } });
        assert.deepEqual(config, await readConfigFile(join(dir, "config", "config.exs"), "prod"));
        assert.deepEqual(local, await readDepChildren("local", join(dir, "local"), "prod"));
        assert.equal(local.version, "0.2.0");
        assert.ok(rebar.equals(await mixRebarConfig("vec_erl", rebarDir)));
        mix.end();
        await assert.rejects(mix.children("local", join(dir, "local"), "prod"), /ended/);
      } finally {
        await mix.close();
      }
    }
    // The stand-in and the session's module, compiled once for this Elixir and ERTS.
    const cached = (await readdir(helpers)).filter((f) => f.endsWith(".etf"));
    assert.equal(cached.length, 1, cached.join(", "));
    // A damaged cache file is replaced.
    const file = join(helpers, cached[0]);
    const good = await readFile(file);
    await writeFile(file, "damaged");
    const mix = openMixSession(dir, "prod");
    try {
      assert.equal((await mix.project).app, "s");
    } finally {
      await mix.close();
    }
    assert.ok((await readFile(file)).equals(good));
  } finally {
    if (saved === undefined) delete process.env.BEAMIX_CACHE_DIR;
    else process.env.BEAMIX_CACHE_DIR = saved;
    await rm(dir, { recursive: true, force: true });
  }
});

test("the config Mix names is read, none is {}; failures read as the one-question scripts' do", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-session-"));
  const session = async (body: string, files: Record<string, string> = {}) => {
    await rm(join(dir, "p"), { recursive: true, force: true });
    await mkdir(join(dir, "p"));
    await writeFile(join(dir, "p", "mix.exs"), mixExs("P", body));
    for (const [f, text] of Object.entries(files)) {
      await mkdir(join(dir, "p", f, ".."), { recursive: true });
      await writeFile(join(dir, "p", f), text);
    }
    return openMixSession(join(dir, "p"), "dev");
  };
  const check = async (mix: ReturnType<typeof openMixSession>, f: (m: typeof mix) => Promise<void>) => {
    try {
      await f(mix);
    } finally {
      await mix.close(true);
    }
  };
  try {
    await check(await session(`def project, do: [app: :p, version: "1.0.0", config_path: "etc/app.exs"]`, { "etc/app.exs": "import Config\nconfig :p, x: 3\n", "config/config.exs": "import Config\nconfig :p, x: 4\n" }), async (mix) => {
      assert.equal((await mix.project).configPath, join(dir, "p", "etc", "app.exs"));
      assert.deepEqual(await mix.config, { p: { x: int(3) } });
    });
    await check(await session(`def project, do: [app: :p, version: "1.0.0"]`), async (mix) => {
      assert.deepEqual(await mix.config, {});
    });
    const config = join(dir, "p", "config", "config.exs");
    await check(await session(`def project, do: [app: :p, version: "1.0.0"]`, { "config/config.exs": "import Config\nconfig :p, [1, 2]\n" }), async (mix) => {
      assert.equal((await mix.project).app, "p");
      await assert.rejects(mix.config, (err: Error) => err.message.startsWith(`${config}: `));
      await assert.rejects(readConfigFile(config, "dev"), (err: Error) => err.message.startsWith(`${config}: `));
    });
    await check(await session(`def project, do: [app: :p, version: "1.0.0"]`, { "config/config.exs": "import Config\nthrow(:nope)\n" }), async (mix) => {
      await assert.rejects(mix.config, { message: `${config}: could not be read: ** (throw) :nope` });
    });
    const what = join(dir, "p", "mix.exs");
    await check(await session(`def project, do: [app: :p, apps_path: "apps"]`), async (mix) => {
      await assert.rejects(mix.project, { message: `${what}: umbrella projects are not supported by beamix deps` });
      await assert.rejects(mix.config);
    });
    await check(await session(`def project, do: System.halt(3)`), async (mix) => {
      await assert.rejects(mix.project, { message: `${what}: Mix could not read it: elixir exited with 3` });
      await assert.rejects(mix.children("x", join(dir, "p"), "prod"), { message: `${what}: Mix could not read it: elixir exited with 3` });
    });
    const none = openMixSession(join(dir, "nothing"), "dev");
    await check(none, async (mix) => {
      await assert.rejects(mix.project, { message: `${join(dir, "nothing")}: not a Mix project (no mix.exs)` });
    });
    // A dependency whose mix.exs stops the VM: that question, and any later one, fails.
    await check(await session(`def project, do: [app: :p, version: "1.0.0"]`, { "dep/mix.exs": "System.halt(4)\n" }), async (mix) => {
      await mix.project;
      const depWhat = join(dir, "p", "dep", "mix.exs");
      await assert.rejects(mix.children("dep", join(dir, "p", "dep"), "prod"), { message: `${depWhat}: Mix could not read it: elixir exited with 4` });
      await assert.rejects(mix.rebarConfig("x", dir), /Mix could not read it: elixir exited with 4/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// The session's VM starts before the toolchain is detected, with the tools its files name, and
// reports the Erlang facts detection would ask erl for (src/toolchain/choice.ts).
test("the VM reports the toolchain's Erlang facts, as erl does; one that is not the toolchain's is replaced before it reads the project", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-session-tc-"));
  const saved = process.env.BEAMIX_CACHE_DIR;
  process.env.BEAMIX_CACHE_DIR = join(dir, "cache");
  const reads = join(dir, "reads");
  await mkdir(join(dir, "p"));
  await writeFile(join(dir, "p", "mix.exs"), `File.write!(${JSON.stringify(reads)}, "read\\n", [:append])\n` + mixExs("P", `def project, do: [app: :p, version: "1.0.0"]`));
  try {
    const system = await detectToolchain({ cacheDir: null });
    const mix = openMixSession(join(dir, "p"), "dev");
    try {
      assert.equal((await mix.project).app, "p");
      const facts = await mix.erlangFacts;
      assert.ok(facts, "facts reported");
      assert.deepEqual(await detectToolchain({ cacheDir: null }, () => Promise.resolve(facts)), system);
      assert.equal((await mix.path)?.split(":")[0], join(system.paths.erlRoot, "bin"));
    } finally {
      await mix.close();
    }

    // Closed at once, before its VM said anything: nothing is answered, and nothing waits for it.
    const closed = openMixSession(join(dir, "p"), "dev");
    await closed.close(true);
    await assert.rejects(closed.project, /closed/);

    // An install whose erl is a script running another one: its files name its own directory
    // as the OTP root, the VM reports the other.
    const wrapper = join(dir, "otp");
    await mkdir(join(wrapper, "bin"), { recursive: true });
    await mkdir(join(wrapper, "releases"));
    await writeFile(join(wrapper, "bin", "erl"), `#!/bin/sh\nexec '${system.paths.erl}' "$@"\n`);
    await chmod(join(wrapper, "bin", "erl"), 0o755);
    await writeFile(reads, "");
    chooseToolchain({ erlang: wrapper });
    try {
      const again = openMixSession(join(dir, "p"), "dev");
      try {
        assert.equal((await again.project).app, "p");
        assert.equal(await again.erlangFacts, undefined);
        // Started again with the detected toolchain's tools, and only that VM read mix.exs.
        assert.equal((await again.path)?.split(":")[0], join(await realpath(system.paths.erlRoot), "bin"));
        assert.equal(await readFile(reads, "utf8"), "read\n");
      } finally {
        await again.close();
      }
      // The next run finds the detected toolchain in the cache: its VM is the one that answers.
      chooseToolchain({ erlang: wrapper });
      const third = openMixSession(join(dir, "p"), "dev");
      try {
        assert.equal((await third.project).app, "p");
        assert.equal((await third.path)?.split(":")[0], join(await realpath(system.paths.erlRoot), "bin"));
        assert.ok(await third.erlangFacts);
        assert.equal(await readFile(reads, "utf8"), "read\nread\n");
      } finally {
        await third.close();
      }
    } finally {
      chooseToolchain({});
    }
  } finally {
    if (saved === undefined) delete process.env.BEAMIX_CACHE_DIR;
    else process.env.BEAMIX_CACHE_DIR = saved;
    await rm(dir, { recursive: true, force: true });
  }
});

test.after(async () => {
  await rm(compileCache, { recursive: true, force: true });
});
