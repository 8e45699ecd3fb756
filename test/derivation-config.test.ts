import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { atom, bin, float, int, list, map, str, tuple, type Term } from "../src/erlang/term.ts";
import { canonicalJson } from "../src/derivation/canonical.ts";
import {
  canonicalConfig,
  canonicalTerm,
  configFromJson,
  configToJson,
  mergeConfig,
  mergeConfigValue,
  termFromJson,
  termToJson,
} from "../src/derivation/config.ts";

const kw = (pairs: [string, Term][]): Term => list(pairs.map(([k, v]) => tuple([atom(k), v])));
const same = (a: Term, b: Term) => canonicalJson(canonicalTerm(a)) === canonicalJson(canonicalTerm(b));

test("JSON form reads into the Erlang terms it names", () => {
  assert.deepEqual(termFromJson("text"), bin("text"));
  assert.deepEqual(termFromJson(42), int(42));
  assert.deepEqual(termFromJson(1.5), float(1.5));
  assert.deepEqual(termFromJson(true), atom("true"));
  assert.deepEqual(termFromJson(null), atom("nil"));
  assert.deepEqual(termFromJson([1, "a"]), list([int(1), bin("a")]));
  assert.deepEqual(termFromJson({ atom: "json" }), atom("json"));
  assert.deepEqual(termFromJson({ tuple: [{ atom: "ok" }, 1] }), tuple([atom("ok"), int(1)]));
  assert.deepEqual(termFromJson({ charlist: "abc" }), str("abc"));
  assert.deepEqual(termFromJson({ integer: "123456789012345678901234567890" }), int(123456789012345678901234567890n));
  assert.deepEqual(termFromJson({ float: 2 }), float(2));
  assert.deepEqual(termFromJson({ base64: "/wA=" }), bin(Buffer.from([0xff, 0])));
  assert.deepEqual(termFromJson({ keyword: [["b", 1], ["a", 2]] }), kw([["b", int(1)], ["a", int(2)]]));
  assert.deepEqual(termFromJson({ map: [["application/x", ["x"]]] }), map([[bin("application/x"), list([bin("x")])]]));
});

test("JSON form errors name the path", () => {
  assert.throws(() => termFromJson({ tuple: [1, { atomz: "x" }] }, "cfg"), /cfg\.tuple\[1\]: unknown tag "atomz"/);
  assert.throws(() => termFromJson({ a: 1, b: 2 }), /exactly one tag/);
  assert.throws(() => termFromJson(2 ** 60), /too large/);
  assert.throws(() => termFromJson({ map: [[1, 2], [1, 3]] }), /duplicate map key/);
  assert.throws(() => termFromJson({ integer: "12x" }), /decimal string/);
  assert.throws(() => termFromJson({ type: "list", items: ["raw json"] }), /expected an Erlang term object/);
});

test("termToJson inverts termFromJson", () => {
  const values: unknown[] = [
    "text",
    42,
    1.5,
    true,
    null,
    [1, [2, "x"]],
    { atom: "a" },
    { tuple: [] },
    { charlist: "ab" },
    { integer: "-123456789012345678901234567890" },
    { float: 3 },
    { base64: "/wA=" },
    { keyword: [["k", { keyword: [["inner", 1]] }]] },
    { map: [[{ atom: "k" }, "v"]] },
  ];
  for (const v of values) assert.deepEqual(termToJson(termFromJson(v)), v, JSON.stringify(v));
  assert.throws(() => termToJson({ type: "list", items: [int(1)], tail: int(2) }), /improper/);
});

test("canonical terms: equal Erlang terms encode equally, different ones differently", () => {
  // "ab" as a charlist is the list [97, 98]; [1 | [2]] is [1, 2]
  assert.ok(same(str("ab"), list([int(97), int(98)])));
  assert.ok(same({ type: "list", items: [int(1)], tail: list([int(2)]) }, list([int(1), int(2)])));
  // map entry order is not part of a map
  assert.ok(same(map([[atom("a"), int(1)], [atom("b"), int(2)]]), map([[atom("b"), int(2)], [atom("a"), int(1)]])));
  // but list order, integer vs float, binary vs charlist, atom vs binary all are
  assert.ok(!same(list([int(1), int(2)]), list([int(2), int(1)])));
  assert.ok(!same(int(1), float(1)));
  assert.ok(!same(bin("ab"), str("ab")));
  assert.ok(!same(atom("ab"), bin("ab")));
  assert.ok(!same(float(0), float(-0)));
  assert.ok(!same(tuple([int(1)]), list([int(1)])));
  assert.throws(() => canonicalTerm(map([[atom("a"), int(1)], [atom("a"), int(2)]])), /duplicate map key/);
  assert.throws(() => canonicalTerm(float(Number.NaN)), /finite/);
});

test("config JSON round-trips and canonicalizes per app and key", () => {
  const json = { mime: { types: { map: [["application/vnd.api+json", ["json-api"]]] } }, plug: { statuses: { map: [[418, "I'm a teapot"]] } } };
  const c = configFromJson(json);
  assert.deepEqual(configToJson(c), json);
  const reordered = configFromJson({ plug: json.plug, mime: json.mime });
  assert.equal(canonicalJson(canonicalConfig(c)), canonicalJson(canonicalConfig(reordered)));
  assert.throws(() => configFromJson({ mime: 1 }), /\$\.mime: must be an object/);
});

// Erlang's ~w layout for the few term types used below, to compare with the real Elixir.
function w(t: Term): string {
  switch (t.type) {
    case "atom":
      return t.value;
    case "integer":
      return t.value.toString();
    case "tuple":
      return `{${t.items.map(w).join(",")}}`;
    case "list":
      return `[${t.items.map(w).join(",")}]`;
    default:
      throw new Error(`no ~w for ${t.type}`);
  }
}

test("mergeConfig follows Elixir's config deep merge (checked against the real Config.Reader.merge)", () => {
  const left = { app: { k: kw([["a", int(1)], ["b", int(2)], ["n", kw([["x", int(1)], ["y", int(2)]])]]), plain: int(1), lst: list([int(1), int(2)]), e: list([]) } };
  const right = { app: { k: kw([["a", int(3)], ["c", int(4)], ["n", kw([["y", int(9)]])]]), plain: int(2), lst: list([int(3)]), e: kw([["z", int(1)]]) }, other: { o: atom("true") } };
  const ours = mergeConfig(left, right);
  assert.deepEqual(Object.keys(ours).sort(), ["app", "other"]);
  // Keyword.merge drops the left keys the right has and appends the right's pairs
  assert.equal(w(ours.app.k), "[{b,2},{a,3},{c,4},{n,[{x,1},{y,9}]}]");
  assert.equal(w(ours.app.plain), "2");
  assert.equal(w(ours.app.lst), "[3]"); // not keyword lists: the right side wins
  assert.equal(w(ours.app.e), "[{z,1}]");
  assert.equal(w(mergeConfigValue(kw([["a", int(1)]]), list([]))), "[{a,1}]"); // [] is a keyword list too

  const exs = `
    l = [app: [k: [a: 1, b: 2, n: [x: 1, y: 2]], plain: 1, lst: [1, 2], e: []]]
    r = [app: [k: [a: 3, c: 4, n: [y: 9]], plain: 2, lst: [3], e: [z: 1]], other: [o: true]]
    m = Config.Reader.merge(l, r)
    app = m[:app]
    IO.write(:io_lib.format(~c"~w~n~w~n~w~n~w~n~w~n", [app[:k], app[:plain], app[:lst], app[:e], Config.Reader.merge([x: [a: 1]], [x: []])[:x]]))
  `;
  const out = execFileSync("elixir", ["-e", exs], { encoding: "utf8" }).trim().split("\n");
  assert.deepEqual(out, [w(ours.app.k), w(ours.app.plain), w(ours.app.lst), w(ours.app.e), "[{a,1}]"]);
});
