// Which rebar3 plugins a configuration names, as rebar3 reads `plugins`: every entry shape, the
// prod profile's plugins, and plugins that are not Hex packages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTerms } from "../src/erlang/parse.ts";
import { pairsOf } from "../src/project/term-json.ts";
import { pluginsOfConfig } from "../src/project/rebar3-plugins.ts";
import { rebar3PluginInputs } from "../src/realize/build-inputs.ts";
import { buildTarball } from "../src/hex/tarball.ts";

const config = (text: string) => pairsOf({ type: "list", items: parseTerms(text) }) ?? [];

test("every entry shape rebar3 accepts for a Hex plugin", () => {
  const found = pluginsOfConfig(
    config(`{plugins, [pc, {rebar3_hex, "7.0.1"}, {provider_asn1, "~> 0.3"}, {my_pc, {pkg, pc_fork}}, {other, "1.0.0", {pkg, other_pkg}}, pc]}.
            {profiles, [{test, [{plugins, [coveralls]}]}, {prod, [{plugins, [{port_helper, ">= 1.0.0"}]}]}]}.`),
    "rebar.config",
  );
  assert.deepEqual(found.other, []);
  assert.deepEqual(
    found.hex.map((p) => `${p.name}/${p.app} ${p.requirement}`),
    ["pc/pc >= 0.0.0", "rebar3_hex/rebar3_hex == 7.0.1", "provider_asn1/provider_asn1 ~> 0.3", "pc_fork/my_pc >= 0.0.0", "other_pkg/other == 1.0.0", "port_helper/port_helper >= 1.0.0"],
  );
});

test("a plugin fetched from git is not a Hex package: reported, and refused for an automatic definition", async () => {
  const found = pluginsOfConfig(config(`{plugins, [pc, {rebar3_gpb_plugin, {git, "https://example.invalid/gpb", {tag, "2.0"}}}]}.`), "rebar.config");
  assert.deepEqual(found.hex.map((p) => p.name), ["pc"]);
  assert.deepEqual(found.other, ["rebar3_gpb_plugin"]);

  const { tarball } = buildTarball({
    metadata: { name: "gpbuser", version: "1.0.0", app: "gpbuser", files: ["rebar.config"], licenses: [], buildTools: ["rebar3"], requirements: [], links: [], other: [] },
    files: [{ path: "rebar.config", mode: 0o100644, data: Buffer.from(`{plugins, [{rebar3_gpb_plugin, {git, "https://example.invalid/gpb", {tag, "2.0"}}}]}.\n`) }],
  });
  await assert.rejects(rebar3PluginInputs(tarball, "gpbuser 1.0.0", "hexpm"), /^BeamixError: gpbuser 1\.0\.0: rebar3 plugin rebar3_gpb_plugin is not a Hex package; write a definition file whose buildInputs name Hex packages$/);
  // A definition file decides instead: the Hex plugins are kept, the others left to it.
  assert.deepEqual(await rebar3PluginInputs(tarball, "gpbuser 1.0.0", "hexpm", { foreignDecidedElsewhere: true }), []);
});

test("a configuration without plugins names none", () => {
  assert.deepEqual(pluginsOfConfig(config(`{erl_opts, [debug_info]}.\n{deps, []}.`), "rebar.config"), { hex: [], other: [] });
});
