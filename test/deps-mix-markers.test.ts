// The marker files `beamix deps` writes for each Mix version, as read from Mix's sources
// (src/deps/mix-dep-markers.ts), and compile.elixir_scm's two manifest versions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mixDepMarkers } from "../src/deps/mix-dep-markers.ts";
import { elixirScmManifest, HEX_SCM_MODULE } from "../src/deps/mix-files.ts";
import { parseMixLock } from "../src/mix/lock.ts";
import { binaryToTerm } from "../src/erlang/etf.ts";
import { compareTerms } from "../src/erlang/order.ts";
import { atom, bin, int, str, tuple } from "../src/erlang/term.ts";

const pick = (v: string) => {
  const m = mixDepMarkers(v);
  return [m.depsFetch, m.compileFetch, m.elixirScm, m.elixirScmVersion];
};

test("Mix 1.14-1.16: deps/APP/.fetch, compile.fetch not older than it, compile.elixir_scm only with Elixir code", () => {
  for (const v of ["1.13.4", "1.14.0", "1.14.5", "1.15.8", "1.16.3"]) assert.deepEqual(pick(v), [true, "not-older-than-fetch", "elixir-code", 1], v);
});

test("Mix 1.17-1.18: no deps/APP/.fetch; compile.fetch only has to exist", () => {
  for (const v of ["1.17.0", "1.17.3", "1.18.3", "1.18.4"]) assert.deepEqual(pick(v), [false, "exists", "elixir-code", 1], v);
});

test("Mix 1.19: no compile.fetch; compile.elixir_scm for every fetchable dependency", () => {
  for (const v of ["1.19.0-rc.0", "1.19.0", "1.19.5"]) assert.deepEqual(pick(v), [false, "none", "every-fetchable", 1], v);
});

test("Mix 1.20 and later: compile.elixir_scm version 2, with the lock entry", () => {
  for (const v of ["1.20.0", "1.20.3", "1.21.0", "2.0.0"]) assert.deepEqual(pick(v), [false, "none", "every-fetchable", 2], v);
});

test("an Elixir version that is not one is refused", () => {
  assert.throws(() => mixDepMarkers("main"), /not an Elixir version/);
});

test("compile.elixir_scm version 2 holds the mix.lock entry as Mix read it", () => {
  const lock = parseMixLock(
    `%{\n  "jason": {:hex, :jason, "1.4.1", "af1504e35f629ddcdd6addb3513c3853991f694921b1b9368b0bd32beb9f1b63", [:mix], [{:decimal, "~> 1.0 or ~> 2.0", [hex: :decimal, repo: "hexpm", optional: true]}], "hexpm", "fbb01ecdfd565b56261302f7e1fcc27c4fb8f32d56eab74db621fc154604a7a1"},\n}\n`,
  );
  const entry = lock.get("jason")!;
  const t = binaryToTerm(elixirScmManifest("1.20.3", "27", HEX_SCM_MODULE, { version: 2, entry }));
  assert.equal(t.type, "tuple");
  if (t.type !== "tuple") return;
  assert.equal(t.items.length, 4);
  assert.equal(compareTerms(t.items[0], int(2)), 0);
  assert.equal(compareTerms(t.items[1], tuple([bin("1.20.3"), str("27")]), { exact: true }), 0);
  assert.equal(compareTerms(t.items[2], atom(HEX_SCM_MODULE)), 0);
  const e = t.items[3];
  assert.equal(e.type, "tuple");
  if (e.type !== "tuple") return;
  assert.equal(compareTerms(tuple(e.items.slice(0, 3)), tuple([atom("hex"), atom("jason"), bin("1.4.1")]), { exact: true }), 0);
  assert.equal(e.items.length, 8, "all eight fields of a current Hex lock entry");
  // Version 1 is the three-tuple every Mix up to 1.19 reads.
  const v1 = binaryToTerm(elixirScmManifest("1.19.5", "27", HEX_SCM_MODULE));
  assert.ok(v1.type === "tuple" && v1.items.length === 3 && compareTerms(v1.items[0], int(1)) === 0);
});
