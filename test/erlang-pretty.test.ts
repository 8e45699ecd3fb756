import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatConsultFile, formatTermCompact, prettyTerm } from "../src/erlang/pretty.ts";
import { parseTerms } from "../src/erlang/parse.ts";
import { binaryToTerm } from "../src/erlang/etf.ts";
import { formatFloat, writeAtom, writeTerm } from "../src/erlang/write.ts";
import { atom, bin, float, int, list, map, str, tuple, type Term } from "../src/erlang/term.ts";
import { b64, genFloat, genTerm, rng, runErlang } from "./support/erlang-gen.ts";

const VEC = new URL("./vectors/hex/", import.meta.url).pathname;

const metadataFiles = (): string[] =>
  ["tarballs/decoded", "tarball-variants/decoded"].flatMap((d) =>
    readdirSync(join(VEC, d))
      .filter((f) => f.endsWith("metadata.config"))
      .map((f) => join(VEC, d, f)),
  );

test("every metadata.config vector round-trips byte for byte", () => {
  const files = metadataFiles();
  assert.equal(files.length, 11);
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    assert.equal(formatConsultFile(parseTerms(text, f)), text, f);
  }
});

test("vec_core metadata.config is reproduced from terms built in code", () => {
  const req = (app: string, optional: boolean, range: string): Term =>
    list([
      tuple([bin("app"), bin(app)]),
      tuple([bin("name"), bin(app)]),
      tuple([bin("optional"), atom(String(optional))]),
      tuple([bin("repository"), bin("vectors")]),
      tuple([bin("requirement"), bin(range)]),
    ]);
  const terms: Term[] = [
    tuple([bin("app"), bin("vec_core")]),
    tuple([bin("build_tools"), list([bin("mix")])]),
    tuple([
      bin("description"),
      bin(
        "Tiny Elixir library used as a Hex test vector: depends on a rebar3 package and has an optional dependency, and reads compile-time configuration.",
      ),
    ]),
    tuple([bin("elixir"), bin("~> 1.14")]),
    tuple([
      bin("files"),
      list(
        ["lib", "lib/vec_core", "lib/vec_core/mode.ex", "lib/vec_core.ex", ".formatter.exs", "mix.exs", "README.md", "CHANGELOG.md"].map(
          (s) => bin(s),
        ),
      ),
    ]),
    tuple([bin("licenses"), list([bin("Apache-2.0")])]),
    tuple([
      bin("links"),
      list([
        tuple([bin("Changelog"), bin("https://example.invalid/vec_core/CHANGELOG.md")]),
        tuple([bin("Source"), bin("https://example.invalid/vec_core")]),
      ]),
    ]),
    tuple([bin("name"), bin("vec_core")]),
    tuple([bin("requirements"), list([req("vec_erl", false, "~> 1.0"), req("vec_opt", true, "~> 0.1")])]),
    tuple([bin("version"), bin("0.3.0")]),
  ];
  assert.equal(formatConsultFile(terms), readFileSync(join(VEC, "tarballs/decoded/vec_core-0.3.0.metadata.config"), "utf8"));
});

test("the ~p rendering of every deps/*/.hex term matches the vector", () => {
  for (const app of ["vec_aliased", "vec_core", "vec_erl", "vec_opt"]) {
    const term = binaryToTerm(readFileSync(join(VEC, "consumer/vec_app/deps", app, ".hex")));
    const txt = readFileSync(join(VEC, "consumer/decoded", app, "deps.hex.txt"), "utf8");
    const expected = txt.split("# --- Erlang syntax (~p)\n")[1].split("\n# ---")[0];
    assert.equal(prettyTerm(term), expected, app);
  }
});

test("binaries: text, /utf8 text, Latin-1 text and bytes", () => {
  assert.equal(prettyTerm(bin('a"b\\c\n\t')), '<<"a\\"b\\\\c\\n\\t">>');
  assert.equal(prettyTerm(bin("café")), '<<"café"/utf8>>');
  // U+20AC is outside the default (Latin-1) printable range: shown as bytes.
  assert.equal(prettyTerm(bin("€")), "<<226,130,172>>");
  assert.equal(prettyTerm(bin("€"), { printableRange: "unicode" }), '<<"€"/utf8>>');
  // Not UTF-8, but printable Latin-1.
  assert.equal(prettyTerm(bin(Buffer.from([0xe9, 0x74, 0xe9]))), '<<"été">>');
  assert.equal(prettyTerm(bin(Buffer.from([0, 1, 255]))), "<<0,1,255>>");
  assert.equal(prettyTerm(bin("")), "<<>>");
  assert.equal(prettyTerm(bin("\x7f")), "<<127>>");
  // Long byte binaries wrap between bytes.
  const long = prettyTerm(bin(Buffer.alloc(40, 150)));
  assert.ok(long.split("\n").length > 1);
  assert.ok(long.split("\n").every((l) => l.length <= 80));
});

test("atoms, strings, numbers and empty containers", () => {
  assert.equal(writeAtom("ok"), "ok");
  assert.equal(writeAtom("nonode@nohost"), "nonode@nohost");
  assert.equal(writeAtom("Ok"), "'Ok'");
  assert.equal(writeAtom("end"), "'end'");
  assert.equal(writeAtom("maybe"), "maybe"); // not reserved in OTP 25 by default
  assert.equal(writeAtom(""), "''");
  assert.equal(writeAtom("it's"), "'it\\'s'");
  assert.equal(writeAtom("été"), "été");
  assert.equal(writeAtom("日本"), "'日本'");
  assert.equal(writeAtom("日本", "latin1"), "'\\x{65E5}\\x{672C}'");
  assert.equal(prettyTerm(str("hi\n")), '"hi\\n"');
  assert.equal(prettyTerm(str("")), "[]");
  assert.equal(prettyTerm(list([int(104), int(105)])), '"hi"');
  assert.equal(prettyTerm(str("日本")), "[26085,26412]");
  assert.equal(prettyTerm(list([int(1), int(2)])), "[1,2]");
  assert.equal(prettyTerm({ type: "list", items: [atom("a")], tail: atom("b") }), "[a|b]");
  assert.equal(prettyTerm(tuple([])), "{}");
  assert.equal(prettyTerm(map([])), "#{}");
  assert.equal(prettyTerm(int(-12345678901234567890n)), "-12345678901234567890");
  // Small maps print in key order: integers before floats, then atoms, ..., binaries.
  assert.equal(
    prettyTerm(map([[bin("b"), int(1)], [atom("a"), int(2)], [float(0.5), int(3)], [int(2), int(4)]])),
    '#{2 => 4,0.5 => 3,a => 2,<<"b">> => 1}',
  );
});

test("floats are written as OTP 25's float_to_list(F, [short])", () => {
  // Pairs observed from erl on OTP 25.
  const cases: [number, string][] = [
    [0.0, "0.0"], [-0.0, "-0.0"], [1.0, "1.0"], [0.1, "0.1"], [1e10, "1.0e10"], [1e15, "1.0e15"],
    [123456789012345680.0, "1.2345678901234568e17"], [0.001, "0.001"], [0.0001, "0.0001"], [1e-5, "1.0e-5"],
    [0.00012, "1.2e-4"], [5e-324, "5.0e-324"], [1.7976931348623157e308, "1.7976931348623157e308"], [100.0, "100.0"],
    [12345.678, "12345.678"], [2 ** 53, "9.007199254740992e15"], [123.456e5, "1.23456e7"], [1e9, "1.0e9"],
    [123456789.0, "123456789.0"], [1234567890123.0, "1234567890123.0"], [-2.5e-7, "-2.5e-7"],
  ];
  for (const [f, s] of cases) assert.equal(formatFloat(f), s, String(f));
});

test("formatTermCompact and writeTerm put everything on one line", () => {
  const t = list([bin("abc"), str("abc"), tuple([atom("a"), atom("b")]), map([[atom("a"), int(1)]]), atom("a b")]);
  assert.equal(formatTermCompact(t), `[<<"abc">>,"abc",{a,b},#{a => 1},'a b']`);
  assert.equal(writeTerm(t), "[<<97,98,99>>,[97,98,99],{a,b},#{a => 1},'a b']");
  const big = list(Array.from({ length: 50 }, (_, i) => bin(`item-${i}`)));
  assert.ok(!formatTermCompact(big).includes("\n"));
  assert.ok(prettyTerm(big).includes("\n"));
});

// Everything Erlang's printer does, checked against the real one on generated terms.
const PRINT_SCRIPT = `#!/usr/bin/env escript
main([In, Out]) ->
  {ok, Terms} = file:consult(In),
  ok = file:write_file(Out, [line(T) || T <- Terms]).
enc(Chars) -> base64:encode(unicode:characters_to_binary(Chars)).
line(T) ->
  [enc(io_lib_pretty:print(T, [{encoding, utf8}])), " ",
   enc(io_lib_pretty:print(T, [{encoding, utf8}, {line_length, 40}, {column, 5}])), " ",
   enc(io_lib_pretty:print(T, [{encoding, utf8}, {line_length, 0}])), " ",
   enc(io_lib:write(T)), "\\n"].
`;

function differential(seed: number, count: number, range: "latin1" | "unicode"): void {
  const r = rng(seed);
  const terms = Array.from({ length: count }, () => genTerm(r));
  terms.push(list(Array.from({ length: 200 }, () => float(genFloat(r)))));
  const lines = runErlang(PRINT_SCRIPT, terms, range === "unicode" ? { ERL_FLAGS: "+pc unicode" } : {});
  assert.equal(lines.length, terms.length);
  let multiline = 0;
  terms.forEach((t, i) => {
    const [p80, p40, p0, w] = lines[i].split(" ").map(b64);
    if (p80.includes("\n")) multiline++;
    const ctx = `term #${i}: ${writeTerm(t).slice(0, 200)}`;
    assert.equal(prettyTerm(t, { printableRange: range }), p80, ctx);
    assert.equal(prettyTerm(t, { lineLength: 40, indent: 4, printableRange: range }), p40, ctx);
    assert.equal(prettyTerm(t, { lineLength: 0, printableRange: range }), p0, ctx);
    assert.equal(writeTerm(t), w, ctx);
  });
  // The generator must exercise the line-breaking paths, not just one-liners.
  assert.ok(multiline > count / 4, `only ${multiline} multi-line terms`);
}

test("matches io_lib_pretty:print/2 and io_lib:write/1 of the real Erlang", () => {
  differential(1, 300, "latin1");
});

test("matches Erlang started with +pc unicode", () => {
  differential(2, 120, "unicode");
});
