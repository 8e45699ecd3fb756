// A project's compile-time config, evaluated by Elixir's Config.Reader and cached until any file
// it read changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readConfigFile } from "../src/project/config-reader.ts";
import { bin, int } from "../src/erlang/term.ts";

test("reads config.exs with its env import, and notices a change in the imported file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-config-"));
  const saved = process.env.BEAMIX_CACHE_DIR;
  process.env.BEAMIX_CACHE_DIR = join(dir, "cache");
  try {
    await mkdir(join(dir, "config"));
    await writeFile(join(dir, "config", "config.exs"), 'import Config\nconfig :mimetable, types: %{"a/b" => ["ab"]}\nimport_config "#{config_env()}.exs"\n');
    await writeFile(join(dir, "config", "prod.exs"), "import Config\nconfig :webapp, port: 1\n");
    const first = await readConfigFile(join(dir, "config", "config.exs"), "prod");
    assert.deepEqual(first.webapp, { port: int(1) });
    assert.equal(first.mimetable.types.type, "map");

    // A cache hit gives the same answer; a change in the imported file is seen.
    assert.deepEqual(await readConfigFile(join(dir, "config", "config.exs"), "prod"), first);
    await writeFile(join(dir, "config", "prod.exs"), 'import Config\nconfig :webapp, port: 2, name: "w"\n');
    const second = await readConfigFile(join(dir, "config", "config.exs"), "prod");
    assert.deepEqual(second.webapp, { port: int(2), name: bin("w") });

    await writeFile(join(dir, "config", "config.exs"), "import Config\nconfig :webapp, [1, 2]\n");
    await assert.rejects(readConfigFile(join(dir, "config", "config.exs"), "prod"), /config\.exs: /);
  } finally {
    if (saved === undefined) delete process.env.BEAMIX_CACHE_DIR;
    else process.env.BEAMIX_CACHE_DIR = saved;
    await rm(dir, { recursive: true, force: true });
  }
});
