// The files `beamix deps` writes in Hex's and Mix's own formats, against the bytes the real
// Hex 2.1.1 and Mix 1.14 wrote in the consumer vectors; and the compile-env reads and index.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseMixLock } from "../src/mix/lock.ts";
import { binaryToTerm } from "../src/erlang/etf.ts";
import { compareTerms } from "../src/erlang/order.ts";
import { atom, bin } from "../src/erlang/term.ts";
import { atomEncodingFor, elixirScmManifest, hexManifest, HEX_SCM_MODULE } from "../src/deps/mix-files.ts";
import { mixRebarConfig } from "../src/deps/mix-query.ts";
import { compileEnvReads, restrictConfig } from "../src/derivation/compile-env.ts";
import { CompileEnvIndex } from "../src/store/compile-env-index.ts";
import { openStore } from "../src/store/store.ts";

const VEC = fileURLToPath(new URL("./vectors/hex/", import.meta.url));
const APP = join(VEC, "consumer", "vec_app");

test("deps/APP/.hex is Hex's manifest byte for byte (OTP 25 atoms), and the same term for OTP 26+", async () => {
  const lock = parseMixLock(await readFile(join(APP, "mix.lock"), "utf8"));
  assert.equal(lock.size, 4);
  for (const [app, e] of lock) {
    assert.equal(e.kind, "hex");
    if (e.kind !== "hex") continue;
    const want = await readFile(join(APP, "deps", app, ".hex"));
    assert.ok(hexManifest(e, "25").equals(want), `${app}/.hex`);
    const otp26 = hexManifest(e, "26");
    assert.ok(!otp26.equals(want), "OTP 26 writes atoms as SMALL_ATOM_UTF8_EXT");
    assert.equal(compareTerms(binaryToTerm(otp26), binaryToTerm(want), { exact: true }), 0);
  }
  assert.equal(atomEncodingFor("25"), "otp25");
  assert.equal(atomEncodingFor("27"), "utf8");
  const [, e] = [...lock][0];
  if (e.kind === "hex") assert.throws(() => hexManifest({ ...e, outerChecksum: undefined }, "25"), /old Hex/);
});

test("_build/ENV/lib/APP/.mix/compile.elixir_scm is Mix's manifest byte for byte", async () => {
  for (const app of ["vec_core", "vec_opt", "vec_aliased"]) {
    const want = await readFile(join(APP, "_build", "prod", "lib", app, ".mix", "compile.elixir_scm"));
    assert.ok(elixirScmManifest("1.14.0", "25", HEX_SCM_MODULE).equals(want), app);
  }
  const t = binaryToTerm(elixirScmManifest("1.15.7", "26", "Elixir.Mix.SCM.Git"));
  assert.equal(t.type, "tuple");
  if (t.type === "tuple") {
    assert.equal(compareTerms(t.items[1], { type: "tuple", items: [bin("1.15.7"), { type: "string", value: "26" }] }, { exact: true }), 0);
    assert.equal(compareTerms(t.items[2], atom("Elixir.Mix.SCM.Git")), 0);
  }
});

test("mix.rebar.config comes from Mix's own Mix.Rebar, as mix deps.compile writes it", async () => {
  const text = await mixRebarConfig("vec_erl", join(VEC, "sources", "vec_erl-1.1.0"));
  assert.ok(text.equals(await readFile(join(APP, "_build", "prod", "lib", "vec_erl", "mix.rebar.config"))));
});

test("compile_env reads come from the .app; a config restricted to them keeps absent keys absent", async () => {
  const read = async (app: string) => {
    const file = join(APP, "_build", "prod", "lib", app, "ebin", `${app}.app`);
    return compileEnvReads(await readFile(file, "utf8"), file);
  };
  assert.deepEqual(await read("vec_core"), [{ app: "vec_core", key: "mode" }]);
  assert.deepEqual(await read("vec_opt"), []);
  const nested = `{application,x,[{vsn,"1"},{compile_env,[{x,[b,deep],error},{other,[a],{ok,1}},{x,[b],{ok,2}},{x,[a],error}]}]}.\n`;
  assert.deepEqual(compileEnvReads(nested, "x.app"), [
    { app: "other", key: "a" },
    { app: "x", key: "a" },
    { app: "x", key: "b" },
  ]);
  assert.throws(() => compileEnvReads("{application,x,[{compile_env,[{x,[],error}]}]}.", "bad.app"), /bad\.app/);

  const one = { type: "integer", value: 1n } as const;
  const config = { x: { a: one, unread: one }, y: { z: one } };
  assert.deepEqual(restrictConfig(config, [{ app: "x", key: "a" }, { app: "x", key: "b" }, { app: "q", key: "r" }]), { x: { a: one } });
  assert.deepEqual(restrictConfig(config, []), {});
});

test("the compile-env index records read sets per basis and is rebuilt from the store's items", async () => {
  const dir = await mkdtemp(join(tmpdir(), "beamix-deps-index-"));
  try {
    const store = await openStore(join(dir, "store"));
    try {
      const index = new CompileEnvIndex(store);
      const basis = "a".repeat(64);
      assert.deepEqual(await index.readSets(basis), []);
      await index.record(basis, [{ app: "m", key: "types" }], { name: "m", version: "1.0.0" });
      await index.record(basis, [{ app: "m", key: "types" }], { name: "m", version: "1.0.0" });
      await index.record(basis, [], { name: "m", version: "1.0.0" });
      assert.deepEqual(await index.readSets(basis), [[{ app: "m", key: "types" }], []]);

      // An item whose deriver records its reads stands for a lost index entry.
      const other = "b".repeat(64);
      const staging = await store.createStagingDir();
      await mkdir(join(staging, "lib"), { recursive: true });
      await writeFile(join(staging, "lib", "f"), "x");
      await store.register({ drvHash: "c".repeat(64), name: "m", version: "1.0.0", stagingDir: staging, deriver: { compileEnv: { basis: other, reads: [{ app: "m", key: "k" }] } } });
      assert.deepEqual(await index.readSets(other), [[{ app: "m", key: "k" }]]);
      await rm(join(index.dir, `${basis}.json`));
      assert.deepEqual(await index.readSets(basis), []);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
