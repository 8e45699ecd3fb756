// The one-line reason after a failed build, on outputs shaped as erlc, gcc, rebar3 and make
// print them: the cause, not the last warning or hook line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { reasonLine } from "../src/builder/build-package.ts";

test("an erlc missing include wins over the warnings before it and the errors after it", () => {
  const out = [
    "\x1b[0;32m===> Analyzing applications...\x1b[0m",
    "\x1b[0;32m===> Compiling fast_thing\x1b[0m",
    "src/fast_thing.erl:12:5: Warning: variable 'X' is unused",
    "\x1b[0;31m===> Compiling src/fast_thing.erl failed",
    '\x1b[0msrc/fast_thing.erl:3:14: can\'t find include file "fast_thing.hrl"',
    "src/fast_thing.erl:20:9: undefined macro 'BUFSIZE'",
    "src/fast_thing.erl:22:1: function start/0 undefined",
  ].join("\n");
  assert.equal(reasonLine(out), 'src/fast_thing.erl:3:14: can\'t find include file "fast_thing.hrl"');
});

test("a C compiler's fatal error is named, not its warnings or make's summary", () => {
  const out = [
    "cc -O2 -fPIC -I/usr/lib/erlang/usr/include -c c_src/yaml_nif.c -o c_src/yaml_nif.o",
    "c_src/yaml_nif.c:10:5: warning: implicit declaration of function 'foo' [-Wimplicit-function-declaration]",
    "c_src/yaml_nif.c:2:10: fatal error: yaml.h: No such file or directory",
    "    2 | #include <yaml.h>",
    "      |          ^~~~~~~~",
    "compilation terminated.",
    "make: *** [Makefile:12: c_src/yaml_nif.o] Error 1",
  ].join("\n");
  assert.equal(reasonLine(out), "c_src/yaml_nif.c:2:10: fatal error: yaml.h: No such file or directory");
});

test("rebar3's real cause, not the plugin warnings it goes on after", () => {
  const out = [
    "\x1b[0;35m===> Failed to update package pc from repo hexpm\x1b[0m",
    "\x1b[0;35m===> Errors loading plugin pc. Run rebar3 with DEBUG=1 set to see errors.\x1b[0m",
    "\x1b[0;32m===> Analyzing applications...\x1b[0m",
    "\x1b[0;32m===> Compiling jiffy\x1b[0m",
    "\x1b[0;31m===> Unable to run post hooks for 'compile', command 'compile' in namespace 'pc' not found.\x1b[0m",
  ].join("\n");
  assert.equal(reasonLine(out), "rebar3: Unable to run post hooks for 'compile', command 'compile' in namespace 'pc' not found.");
});

test("a failing hook's own error line wins over rebar3's hook summary", () => {
  const out = [
    "\x1b[0;32m===> Compiling ezlib\x1b[0m",
    "configure: error: zlib.h not found",
    "\x1b[0;31m===> Hook for compile failed!\x1b[0m",
  ].join("\n");
  assert.equal(reasonLine(out), "configure: error: zlib.h not found");
  assert.equal(reasonLine("===> Compiling ezlib\n===> Hook for compile failed!\n"), "rebar3: Hook for compile failed!");
});

test("Elixir's warning locations are not compiler errors", () => {
  const out = ["warning: variable \"x\" is unused", "  lib/a.ex:9: A.f/1", "", "mix compile failed: could not compile dependency :a, error in lib/b.ex"].join("\n");
  assert.equal(reasonLine(out), "mix compile failed: could not compile dependency :a, error in lib/b.ex");
});
