// System inputs of a definition (src/native/system-inputs.ts): declared and validated, looked
// for on this host with the real C compiler, pkg-config and dpkg, and counted in the derivation
// hash by the version found (a derivation without any keeps its hash).
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Definition } from "../src/derivation/definition.ts";
import { validateDefinition } from "../src/derivation/definition-validate.ts";
import { createDerivation, derivationHash, derivationIdentity } from "../src/derivation/derivation.ts";
import { probeSystemInputs } from "../src/native/system-inputs.ts";
import type { ToolchainFacts } from "../src/toolchain/detect.ts";

const H = "a".repeat(64);
const toolchain = { otpRelease: "25", otpVersion: "25.2.3", ertsVersion: "13.1.5", nifVersion: "2.16", targetTriple: "x86_64-pc-linux-gnu", elixirVersion: "1.14.0", rebar3Version: null } as unknown as ToolchainFacts;
const def = (extra: Record<string, unknown> = {}): Definition =>
  validateDefinition({ name: "yamlcount", version: "0.1.0", source: { type: "hex", innerChecksum: H }, buildSystem: "mix", ...extra });

test("systemInputs are validated field by field, every problem at once", () => {
  assert.deepEqual(def({ systemInputs: [{ header: "yaml.h", library: "yaml", pkgConfig: "yaml-0.1", debian: "libyaml-dev" }] }).systemInputs, [
    { header: "yaml.h", library: "yaml", pkgConfig: "yaml-0.1", debian: "libyaml-dev" },
  ]);
  assert.equal(def({ systemInputs: [] }).systemInputs, undefined, "none declared: no field, so the hash is unchanged");
  assert.throws(
    () => def({ systemInputs: [{ header: "../etc/passwd" }, { debian: "libfoo-dev" }, { library: "-lyaml", colour: "red" }, "yaml.h"] }),
    (err: Error) => {
      assert.match(err.message, /systemInputs\[0\]\.header: "\.\.\/etc\/passwd" is not a header name/);
      assert.match(err.message, /systemInputs\[1\]: needs a header, a library or a pkgConfig module to look for/);
      assert.match(err.message, /systemInputs\[2\]\.colour: unknown field/);
      assert.match(err.message, /systemInputs\[2\]\.library: "-lyaml" is not a library name/);
      assert.match(err.message, /systemInputs\[3\]: must be an object/);
      return true;
    },
  );
});

test("the hash covers what was declared and the version found; nothing declared keeps the old identity", () => {
  const plain = createDerivation({ definition: def(), toolchain, inputs: {} });
  assert.equal("systemInputs" in (derivationIdentity(plain) as object), false);
  const declared = def({ systemInputs: [{ header: "yaml.h", debian: "libyaml-dev" }] });
  const at = (version: string) => derivationHash(createDerivation({ definition: declared, toolchain, inputs: {}, system: [{ header: "yaml.h", debian: "libyaml-dev", version }] }));
  assert.notEqual(at("debian:0.2.5-1"), derivationHash(plain));
  assert.notEqual(at("debian:0.2.5-1"), at("debian:0.2.2-1"));
  assert.equal(at("debian:0.2.5-1"), at("debian:0.2.5-1"));
  assert.throws(() => createDerivation({ definition: declared, toolchain, inputs: {} }), /yamlcount 0\.1\.0: its system inputs have not been looked for on this host/);
  assert.throws(() => createDerivation({ definition: declared, toolchain, inputs: {}, system: [{ header: "zlib.h", version: "x" }] }), /not been looked for/);
});

test("looking on this host: a header and library found, with pkg-config's or Debian's version", async () => {
  const [yaml, zlib] = await probeSystemInputs(
    [
      { header: "yaml.h", library: "yaml", debian: "libyaml-dev" },
      { header: "zlib.h", library: "z", pkgConfig: "zlib" },
    ],
    "t 1.0.0",
  );
  assert.match(yaml.version, /^debian:0\.2\.\d+-\d+$/);
  assert.match(zlib.version, /^pkg-config:1\.\d+/);
  // Neither a pkg-config module nor an installed Debian package: the files' contents say which.
  const [bare] = await probeSystemInputs([{ header: "zlib.h" }], "t 1.0.0");
  assert.match(bare.version, /^sha256:[0-9a-f]{64}$/);
});

test("a missing header, library or pkg-config module fails in one line naming it and the Debian package", async () => {
  await assert.rejects(
    probeSystemInputs([{ header: "beamix_absent_test.h", debian: "libbeamix-absent-dev" }], "yamlcount 0.1.0"),
    { message: "yamlcount 0.1.0: system header beamix_absent_test.h not found by the C compiler (cc -E); install the Debian package libbeamix-absent-dev" },
  );
  await assert.rejects(probeSystemInputs([{ library: "beamixabsent" }], "p 1.0.0"), {
    message: "p 1.0.0: system library beamixabsent (libbeamixabsent.so) not found by the linker (cc -print-file-name)",
  });
  await assert.rejects(probeSystemInputs([{ header: "yaml.h", pkgConfig: "beamix-absent-module" }], "p 1.0.0"), { message: "p 1.0.0: pkg-config module beamix-absent-module not found" });
});
