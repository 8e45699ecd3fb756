// `beamix hex registry build` lists a release's dependencies as `mix hex.registry build` does:
// Hex reads a tarball's requirements into a map keyed by package name and walks it in name order,
// whatever order metadata.config lists them in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildTarball } from "../src/hex/tarball.ts";
import { buildRegistry } from "../src/hex/registry/build.ts";
import { HexRepo } from "../src/hex/registry/client.ts";
import { testKeyPair } from "./support/fixture-registry.ts";

test("a release's dependencies are in package name order in the built registry", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-registry-order-"));
  try {
    const requirement = (name: string, repository = "hexpm") => ({ name, app: name, requirement: "~> 1.0", optional: false, repository });
    const { tarball } = buildTarball({
      metadata: {
        name: "ordered",
        version: "1.0.0",
        app: "ordered",
        files: ["mix.exs"],
        licenses: [],
        buildTools: ["mix"],
        requirements: [requirement("zeta"), requirement("alpha"), requirement("mid", "other"), requirement("beta")],
        links: [],
        other: [],
      },
      files: [{ path: "mix.exs", mode: 0o100644, data: Buffer.from("defmodule Ordered.MixProject do\nend\n") }],
    });
    await mkdir(join(dir, "tarballs"), { recursive: true });
    await writeFile(join(dir, "tarballs", "ordered-1.0.0.tar"), tarball);
    const keys = testKeyPair();
    await buildRegistry({ dir, name: "hexpm", privateKeyPem: keys.privateKeyPem });
    const repo = new HexRepo({ name: "hexpm", url: pathToFileURL(dir).href, publicKeyPem: keys.publicKeyPem, cacheDir: join(dir, "cache") });
    const release = await repo.release("ordered", "1.0.0");
    assert.deepEqual(release.dependencies.map((d) => `${d.package}@${d.repository}`), ["alpha@hexpm", "beta@hexpm", "mid@other", "zeta@hexpm"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
