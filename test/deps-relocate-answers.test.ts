// Mix's answers moved with a project (src/deps/relocate-answers.ts): paths under the project's
// directory follow it, nothing else changes, and an answer naming another absolute place is not
// movable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { binaryToTerm, termToBinary } from "../src/erlang/etf.ts";
import { bin, list, map, atom, str, tuple } from "../src/erlang/term.ts";
import { movableEtf, movableText, moveEtf, moveText } from "../src/deps/relocate-answers.ts";

const answer = (dir: string, sibling: string) =>
  termToBinary(
    map([
      [atom("build_path"), bin(`${dir}/_build/dev`)],
      [atom("deps"), list([tuple([atom("beacon"), bin(`${dir}/deps/beacon`), str(`${dir}/deps/beacon/mix.exs`)])])],
      [atom("url"), bin("https://example.com/x")],
      [atom("dir"), bin(dir)],
      [atom("sibling"), bin(sibling)],
    ]),
  );

test("paths under the project's directory move with it and nothing else changes", () => {
  // A name the directory's is a prefix of is another directory: it stays.
  const moved = moveEtf(answer("/work/a/app", "/work/a/app-other/x"), "/work/a/app", "/ci/w/app");
  assert.deepEqual(binaryToTerm(moved), binaryToTerm(answer("/ci/w/app", "/work/a/app-other/x")));
});

test("an answer naming an absolute place outside the project is not movable", () => {
  const dir = "/work/a/app";
  assert.equal(movableEtf(answer(dir, "relative/path and words"), dir), true);
  assert.equal(movableEtf(answer(dir, `${dir}-other/x`), dir), false, "a sibling directory is outside");
  const inside = termToBinary(map([[atom("p"), bin(`${dir}/deps`)], [atom("q"), bin("not/a/path")], [atom("r"), bin(dir)]]));
  assert.equal(movableEtf(inside, dir), true);
  assert.equal(movableEtf(termToBinary(map([[atom("deps_path"), bin("/work/a/deps")]])), dir), false);
  assert.equal(movableEtf(termToBinary(list([str("/srv/data")])), dir), false);
});

test("a mix.rebar.config moves the quoted paths under the project and keeps the rest", () => {
  const text = Buffer.from(`{erl_opts,[debug_info,{i,"/work/a/app/include"}]}.\n{deps,[]}.\n{x,"/opt/y"}.\n`);
  assert.equal(movableText(text, "/work/a/app"), false);
  const inside = Buffer.from(`{erl_opts,[{i,"/work/a/app/include"}]}.\n`);
  assert.equal(movableText(inside, "/work/a/app"), true);
  assert.equal(moveText(inside, "/work/a/app", "/b").toString(), `{erl_opts,[{i,"/b/include"}]}.\n`);
});
