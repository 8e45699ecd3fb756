import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { binaryToTerm, termToBinary } from "../src/erlang/etf.ts";
import { compareTerms } from "../src/erlang/order.ts";
import { parseTerms } from "../src/erlang/parse.ts";
import { writeTerm } from "../src/erlang/write.ts";
import { BeamixError } from "../src/errors.ts";
import { atom, bin, float, int, list, map, str, tuple, type Term } from "../src/erlang/term.ts";
import { genTerm, rng, runErlang } from "./support/erlang-gen.ts";

const VEC = new URL("./vectors/hex/consumer/", import.meta.url).pathname;
const APPS = ["vec_aliased", "vec_core", "vec_erl", "vec_opt"];
const hex = (b: Buffer): string => b.toString("hex");
const bytes = (...xs: number[]): Buffer => Buffer.from(xs);

test("deps/*/.hex vectors decode and re-encode to the same bytes", () => {
  for (const app of APPS) {
    const file = readFileSync(join(VEC, "vec_app/deps", app, ".hex"));
    const term = binaryToTerm(file);
    assert.equal(hex(termToBinary(term)), hex(file), app);
    // OTP 26+ writes the atoms as SMALL_ATOM_UTF8_EXT: different bytes, same term.
    const utf8 = termToBinary(term, { atoms: "utf8" });
    assert.notEqual(hex(utf8), hex(file));
    assert.equal(hex(termToBinary(binaryToTerm(utf8))), hex(file));
  }
});

test("the vec_core .hex decodes to the term Hex wrote", () => {
  const term = binaryToTerm(readFileSync(join(VEC, "vec_app/deps/vec_core/.hex")));
  const expected = tuple([
    tuple([atom("hex"), int(2), int(0)]),
    map([
      [atom("version"), bin("0.3.0")],
      [atom("repo"), bin("vectors")],
      [atom("outer_checksum"), bin("c4c94e15a54b6f0be309daf02fbae1a3ca7d54476b9d3e9f5bf8f7aed36f7c53")],
      [atom("name"), bin("vec_core")],
      [atom("managers"), list([atom("mix")])],
      [atom("inner_checksum"), bin("f8db6f61bbe783b85b99c6373134b17d633908172ab86d09b83a4882567181cf")],
    ]),
  ]);
  assert.equal(compareTerms(term, expected, { exact: true }), 0);
  // Built from scratch in another key order, it still encodes to the file's bytes.
  assert.equal(hex(termToBinary(expected)), hex(readFileSync(join(VEC, "vec_app/deps/vec_core/.hex"))));
});

test("encodes each type with the tag Erlang uses", () => {
  assert.deepEqual(termToBinary(int(7)), bytes(131, 97, 7));
  assert.deepEqual(termToBinary(int(255)), bytes(131, 97, 255));
  assert.deepEqual(termToBinary(int(256)), bytes(131, 98, 0, 0, 1, 0));
  assert.deepEqual(termToBinary(int(-1)), bytes(131, 98, 255, 255, 255, 255));
  assert.deepEqual(termToBinary(int(2n ** 40n)), bytes(131, 110, 6, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(termToBinary(int(-(2n ** 40n))), bytes(131, 110, 6, 1, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(termToBinary(float(1.5)), bytes(131, 70, 63, 248, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(termToBinary(atom("é")), bytes(131, 100, 0, 1, 233));
  assert.deepEqual(termToBinary(atom("а")), bytes(131, 119, 2, 208, 176));
  assert.deepEqual(termToBinary(atom("é"), { atoms: "utf8" }), bytes(131, 119, 2, 195, 169));
  assert.deepEqual(termToBinary(str("abc")), bytes(131, 107, 0, 3, 97, 98, 99));
  // A list of bytes is a STRING_EXT however it is held.
  assert.deepEqual(termToBinary(list([int(97), int(98), int(99)])), termToBinary(str("abc")));
  assert.deepEqual(termToBinary(str("")), bytes(131, 106));
  assert.deepEqual(termToBinary(list([int(256), int(1)])), bytes(131, 108, 0, 0, 0, 2, 98, 0, 0, 1, 0, 97, 1, 106));
  assert.deepEqual(
    termToBinary({ type: "list", items: [int(1), int(2)], tail: int(3) }),
    bytes(131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3),
  );
  assert.deepEqual(termToBinary(bin(Buffer.from([1, 2]))), bytes(131, 109, 0, 0, 0, 2, 1, 2));
  assert.deepEqual(termToBinary(tuple([])), bytes(131, 104, 0));
  assert.deepEqual(termToBinary(map([])), bytes(131, 116, 0, 0, 0, 0));
  const big = termToBinary(tuple(Array.from({ length: 256 }, () => int(0))));
  assert.deepEqual(big.subarray(0, 6), bytes(131, 105, 0, 0, 1, 0));
});

test("decodes every supported tag, and STRING_EXT as a string term", () => {
  assert.deepEqual(binaryToTerm(bytes(131, 107, 0, 2, 104, 105)), str("hi"));
  assert.deepEqual(binaryToTerm(bytes(131, 115, 1, 97)), atom("a")); // SMALL_ATOM_EXT
  assert.deepEqual(binaryToTerm(bytes(131, 118, 0, 2, 195, 169)), atom("é")); // ATOM_UTF8_EXT
  assert.deepEqual(binaryToTerm(bytes(131, 111, 0, 0, 0, 1, 1, 5)), int(-5)); // LARGE_BIG_EXT
  const old = Buffer.concat([bytes(131, 99), Buffer.from("1.50000000000000000000e+00".padEnd(31, "\0"))]);
  assert.deepEqual(binaryToTerm(old), float(1.5)); // FLOAT_EXT
  // Compressed (term_to_binary(T, [compressed])).
  const raw = termToBinary(list(Array.from({ length: 100 }, () => atom("repeat"))));
  const body = raw.subarray(1);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length);
  const packed = Buffer.concat([bytes(131, 80), size, deflateSync(body)]);
  assert.deepEqual(termToBinary(binaryToTerm(packed)), raw);
});

test("refuses what it cannot represent, with the tag and offset", () => {
  const err = (b: Buffer, re: RegExp) =>
    assert.throws(() => binaryToTerm(b), (e: unknown) => e instanceof BeamixError && re.test(e.message));
  err(bytes(130, 106), /version byte 131/);
  err(bytes(131, 98, 0, 0), /truncated/);
  err(bytes(131, 106, 106), /1 trailing bytes/);
  err(bytes(131, 88, 0), /unsupported tag 88 \(NEW_PID_EXT\) at byte 1/);
  err(bytes(131, 104, 1, 77, 0, 0, 0, 1, 3, 1), /BIT_BINARY_EXT.*at byte 3/);
  err(bytes(131, 200), /unsupported tag 200/);
  assert.throws(() => termToBinary(float(NaN)), BeamixError);
});

test("compareTerms follows Erlang's term order", () => {
  const ordered: Term[] = [
    int(-1), float(0.5), int(1), atom("a"), atom("b"), tuple([int(9)]), tuple([int(1), int(1)]),
    map([]), map([[atom("a"), int(1)]]), str(""), list([int(1)]), str("a"), bin(""), bin("a"),
  ];
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.equal(compareTerms(ordered[i], ordered[i + 1]), -1, `${writeTerm(ordered[i])} < ${writeTerm(ordered[i + 1])}`);
    assert.equal(compareTerms(ordered[i + 1], ordered[i]), 1);
  }
  assert.equal(compareTerms(int(1), float(1.0)), 0);
  assert.equal(compareTerms(int(2), float(0.5), { exact: true }), -1); // map key order
  assert.equal(compareTerms({ type: "list", items: [int(1)], tail: int(2) }, list([int(1), int(2)])), -1);
});

// term_to_binary, file:consult and the term order of the real Erlang on generated terms.
const ETF_SCRIPT = `#!/usr/bin/env escript
main([In, Out]) ->
  {ok, Terms} = file:consult(In),
  Lines = [[base64:encode(term_to_binary(T)), " ",
            base64:encode(term_to_binary(T, [{minor_version, 2}])), " ",
            base64:encode(term_to_binary(T, [compressed])), "\\n"] || T <- Terms],
  Idx = lists:seq(1, length(Terms)),
  Std = [I || {_, I} <- lists:sort(lists:zip(Terms, Idx))],
  Exact = [I || {_, I} <- lists:sort(fun({A, I}, {B, J}) ->
                                          C = erts_internal:cmp_term(A, B),
                                          C < 0 orelse (C =:= 0 andalso I =< J)
                                      end, lists:zip(Terms, Idx))],
  Order = [lists:join(",", [integer_to_list(I) || I <- Std]), "\\n",
           lists:join(",", [integer_to_list(I) || I <- Exact]), "\\n"],
  ok = file:write_file(Out, [Lines, Order]).
`;

test("matches term_to_binary, file:consult and term order of the real Erlang", () => {
  const r = rng(7);
  const terms = Array.from({ length: 300 }, () => genTerm(r));
  const lines = runErlang(ETF_SCRIPT, terms);
  assert.equal(lines.length, terms.length + 2);
  terms.forEach((t, i) => {
    const [otp25, utf8, compressed] = lines[i].split(" ").map((s) => Buffer.from(s, "base64"));
    const ctx = `term #${i}: ${writeTerm(t).slice(0, 200)}`;
    assert.equal(hex(termToBinary(t)), hex(otp25), ctx);
    assert.equal(hex(termToBinary(t, { atoms: "utf8" })), hex(utf8), ctx);
    assert.equal(hex(termToBinary(binaryToTerm(otp25))), hex(otp25), ctx);
    assert.equal(hex(termToBinary(binaryToTerm(compressed))), hex(otp25), ctx);
    // Our reader agrees with file:consult on the same text.
    assert.equal(hex(termToBinary(parseTerms(writeTerm(t) + ".")[0])), hex(otp25), ctx);
  });
  const sortIdx = (exact: boolean): string =>
    terms
      .map((t, i) => ({ t, i: i + 1 }))
      .sort((a, b) => compareTerms(a.t, b.t, { exact }) || a.i - b.i)
      .map((x) => x.i)
      .join(",");
  assert.equal(sortIdx(false), lines[terms.length]);
  assert.equal(sortIdx(true), lines[terms.length + 1]);
});
