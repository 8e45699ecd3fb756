import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamixError } from "../src/errors.ts";
import { atom, bin, int, list, map, tuple, type Term } from "../src/erlang/term.ts";
import { inspectAtom, inspectElixir } from "../src/elixir/inspect.ts";
import { parseElixirLiteral } from "../src/elixir/literal.ts";
import { formatMixLock, parseMixLock, readMixLockFile, type HexLockEntry, type MixLock, type MixLockEntry } from "../src/mix/lock.ts";

const VECTORS = join(import.meta.dirname, "vectors", "hex");

const lockFiles = [
  ...readdirSync(join(VECTORS, "real-world"))
    .filter((f) => f.endsWith(".mix.lock"))
    .map((f) => join(VECTORS, "real-world", f)),
  join(VECTORS, "consumer", "vec_app", "mix.lock"),
];

test("every vector mix.lock reads and writes back byte-identical", () => {
  assert.ok(lockFiles.length >= 3);
  for (const file of lockFiles) {
    const text = readFileSync(file, "utf8");
    const lock = parseMixLock(text, file);
    assert.ok(lock.size > 0, file);
    for (const e of lock.values()) assert.equal(e.kind, "hex", `${file}: ${e.app}`);
    assert.equal(formatMixLock(lock), text, file);
  }
});

test("readMixLockFile: a missing lock is empty, an existing one is read", async () => {
  assert.equal((await readMixLockFile(join(VECTORS, "no-such.lock"))).size, 0);
  assert.equal((await readMixLockFile(join(VECTORS, "consumer", "vec_app", "mix.lock"))).size, 4);
});

test("the consumer lock's entries have the typed fields Hex wrote", () => {
  const lock = parseMixLock(readFileSync(join(VECTORS, "consumer", "vec_app", "mix.lock"), "utf8"));
  assert.deepEqual([...lock.keys()], ["vec_aliased", "vec_core", "vec_erl", "vec_opt"]);
  const aliased = lock.get("vec_aliased") as HexLockEntry;
  assert.equal(aliased.app, "vec_aliased");
  assert.equal(aliased.package, "vec_alias");
  assert.equal(aliased.version, "0.2.0");
  assert.equal(aliased.repo, "vectors");
  assert.equal(aliased.innerChecksum, "97b803bebd41ec9ee2709d8af32706a93d2d23c3c1e1c2b4a62ea63b01412651");
  assert.equal(aliased.outerChecksum, "b39f443d73e75be769a5704e0172688b2935dcf25018f4eeb6f7878092ef8d16");
  const core = lock.get("vec_core") as HexLockEntry;
  assert.deepEqual(core.managers, ["mix"]);
  assert.deepEqual(core.deps, [
    { app: "vec_erl", requirement: "~> 1.0", package: "vec_erl", repo: "vectors", optional: false },
    { app: "vec_opt", requirement: "~> 0.1", package: "vec_opt", repo: "vectors", optional: true },
  ]);
  assert.deepEqual((lock.get("vec_erl") as HexLockEntry).managers, ["rebar3"]);
});

test("code in a lock file is refused with its position, never run", () => {
  const cases: [string, RegExp][] = [
    ['%{"a": System.cmd("x", [])}', /^evil\.lock:1:8: function calls are not allowed \(System\.cmd\)/],
    ['%{\n  "a": {:hex, :a, "1.0.0#{File.rm_rf!("/")}"}\n}', /^evil\.lock:2:25: string interpolation is not allowed/],
    ['%{"a": x}', /^evil\.lock:1:8: variables are not allowed \(x\)/],
    ['%{"a": ~s(x)}', /^evil\.lock:1:8: sigils are not allowed/],
    ['%{"a": "x" <> "y"}', /^evil\.lock:1:12: unexpected "<>"/],
    ['%{"a": @x}', /^evil\.lock:1:8: module attributes are not allowed/],
    ['%{"a": &foo/1}', /^evil\.lock:1:8: function captures are not allowed/],
    ['%{"a": %URI{}}', /^evil\.lock:1:8: structs are not allowed/],
    ['%{"a": 1.5}', /^evil\.lock:1:8: floats are not supported/],
    ['%{"a": 1} |> IO.inspect()', /^evil\.lock:1:11: unexpected "\|>" after the value/],
    ['%{"a": {:hex, :a}', /^evil\.lock:1:18: unexpected end of file/],
    ['[:a]', /^evil\.lock: expected a map/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseMixLock(text, "evil.lock"), (e: unknown) => e instanceof BeamixError && re.test(e.message), text);
  }
});

test("merge conflict markers are refused like Mix does", () => {
  assert.throws(() => parseMixLock('%{\n<<<<<<< HEAD\n  "a": nil,\n=======\n>>>>>>> x\n}\n'), /contains merge conflicts/);
});

test("older Hex entry shapes, git entries and unknown values are typed or kept raw, and round-trip", () => {
  const text = [
    "%{",
    '  "a3": {:hex, :a3, "0.1.0"},',
    '  "a6": {:hex, :a6, "1.0.0", "abc", [:mix], [{:b, "~> 1.0", [hex: :b, optional: true]}]},',
    '  "a7": {:hex, :a7, "1.0.0", "abc", [:make, :rebar3], [], "hexpm"},',
    '  "g": {:git, "https://example.invalid/g.git", "0123abcd", [branch: "main", submodules: true]},',
    '  "odd": {:hex, :odd, "1.0.0", "abc", [:mix], [{:b, "~> 1.0", [repo: "hexpm", hex: :b, optional: false]}], "hexpm", "def"},',
    '  "p": {:path, "../p", []},',
    "}",
    "",
  ].join("\n");
  const lock = parseMixLock(text);
  assert.deepEqual(lock.get("a3"), { kind: "hex", app: "a3", package: "a3", version: "0.1.0" });
  const a6 = lock.get("a6") as HexLockEntry;
  assert.equal(a6.repo, undefined);
  assert.deepEqual(a6.deps, [{ app: "b", requirement: "~> 1.0", package: "b", optional: true }]);
  assert.deepEqual((lock.get("a7") as HexLockEntry).managers, ["make", "rebar3"]);
  const g = lock.get("g");
  assert.equal(g?.kind, "git");
  if (g?.kind === "git") {
    assert.equal(g.url, "https://example.invalid/g.git");
    assert.deepEqual(g.opts.map(([k]) => k), ["branch", "submodules"]);
  }
  // An unexpected dep option order is not silently normalised: the entry stays raw.
  assert.equal(lock.get("odd")?.kind, "other");
  assert.equal(lock.get("p")?.kind, "other");
  assert.equal(formatMixLock(lock), text);
});

test("the writer sorts by app name, skips nil entries and writes a gap as nil", () => {
  const lock: MixLock = new Map<string, MixLockEntry>([
    ["zeta", { kind: "hex", app: "zeta", package: "zeta", version: "1.0.0", repo: "hexpm" }],
    ["alpha", { kind: "other", app: "alpha", value: atom("nil") }],
    ["Beta", { kind: "other", app: "Beta", value: tuple([atom("x")]) }],
  ]);
  assert.equal(formatMixLock(lock), '%{\n  "Beta": {:x},\n  "zeta": {:hex, :zeta, "1.0.0", nil, nil, nil, "hexpm"},\n}\n');
  assert.equal(formatMixLock(new Map()), "%{\n}\n");
  assert.throws(() => formatMixLock(new Map([["a", { kind: "other", app: "b", value: atom("x") }]])), BeamixError);
});

test("literal reader: keyword tails, aliases, escapes, binaries, improper lists", () => {
  assert.deepEqual(parseElixirLiteral("{:a, b: 1}"), tuple([atom("a"), list([tuple([atom("b"), int(1)])])]));
  assert.deepEqual(parseElixirLiteral("Foo.Bar"), atom("Elixir.Foo.Bar"));
  assert.deepEqual(parseElixirLiteral("[Foo: 1]"), list([tuple([atom("Foo"), int(1)])]));
  assert.deepEqual(parseElixirLiteral('"a\\u{1F600}\\x41\\n\\#{"'), bin("a\u{1F600}A\n#{"));
  assert.deepEqual(parseElixirLiteral("<<1, 255, \"a\">>"), bin(Buffer.from([1, 255, 97])));
  assert.deepEqual(parseElixirLiteral("[1 | [2 | 3]]"), { type: "list", items: [int(1), int(2)], tail: int(3) });
  assert.deepEqual(parseElixirLiteral("-0x1F"), int(-31));
  assert.deepEqual(parseElixirLiteral("'hé'"), list([int(104), int(233)]));
  assert.deepEqual(parseElixirLiteral("%{\"k\" => [], # note\n k: :\"a b\"}"), map([[bin("k"), list([])], [atom("k"), atom("a b")]]));
  assert.throws(() => parseElixirLiteral("%{a: 1, a: 2}", "f"), /f:1:9: duplicate key/);
});

function hasElixir(): boolean {
  return spawnSync("elixir", ["--version"], { encoding: "utf8" }).status === 0;
}

// Mix's own writer is the reference: one elixir process (1) writes a lock full of awkward
// values with Mix.Dep.Lock.write/2, which we must read and write back identically, (2) reads
// the lock we wrote with Mix.Dep.Lock.read/1 and writes it again with Mix, which must give our
// bytes, and (3) prints inspect/1 of many atoms, strings and charlists for comparison.
test("differential: Mix.Dep.Lock and inspect agree with our reader and writer", { skip: !hasElixir() }, () => {
  const dir = mkdtempSync(join(tmpdir(), "beamix-lock-"));
  try {
    writeFileSync(
      join(dir, "mix.exs"),
      'defmodule LockProbe.MixProject do\n  use Mix.Project\n  def project, do: [app: :lock_probe, version: "0.0.0"]\nend\n',
    );
    // (2) Our writer's output, from a model with awkward values.
    const ours: MixLock = new Map<string, MixLockEntry>();
    const add = (e: MixLockEntry): void => void ours.set(e.app, e);
    add({
      kind: "hex", app: "my-app", package: "my-app", version: "1.0.0-rc.1+build", innerChecksum: "a".repeat(64),
      managers: ["mix", "rebar3"], deps: [{ app: "x-y", requirement: "~> 1.0 or >= 2.0.0-dev", package: "XY", repo: "acme:org", optional: true }],
      repo: "hexpm:acme", outerChecksum: "b".repeat(64),
    });
    add({ kind: "hex", app: "old", package: "old", version: "0.1.0", innerChecksum: "c", managers: [], deps: [] });
    add({ kind: "git", app: "gitdep", url: "https://example.invalid/é \"q\".git", rev: "abc", opts: [["tag", bin("v1 #{x}")], ["sparse", bin("a\\b")], ["submodules", atom("true")]] });
    add({
      kind: "other", app: "Weird_1", value: tuple([
        atom("custom"), map([[bin("é"), bin(Buffer.from([0, 1, 255]))], [atom("a"), list([int(104), int(105)])], [int(-3), atom("Elixir.Foo.Bar")]]),
        { type: "list", items: [int(1)], tail: atom("nil") }, list([tuple([atom("a b"), int(1)]), tuple([atom("Foo"), atom("+")])]),
        bin("tab\there\u2028\ufeff\u00a0"), int(12345678901234567890n), list([int(7), int(27), int(126)]), tuple([]), map([]),
      ]),
    });
    const oursText = formatMixLock(ours);
    writeFileSync(join(dir, "ours.lock"), oursText);

    const script = String.raw`
Mix.start()
awkward = %{
  "my-app": {:hex, :"my-app", "1.0.0", String.duplicate("f", 64), [:make, :rebar3], [{:"x.y", "~> 1.0", [hex: :"x.y", repo: "hexpm", optional: false]}, {:Zed, ">= 0.0.0", [hex: :zed, repo: "org:acme", optional: true]}], "hexpm", String.duplicate("0", 64)},
  plain: {:hex, :plain, "0.1.0", "abc", [:mix], [], "hexpm", "def"},
  v6: {:hex, :v6, "1.0.0", "abc", [:mix], [{:b, "~> 1.0", [hex: :b, optional: true]}]},
  v3: {:hex, :v3, "0.1.0"},
  g: {:git, "https://example.invalid/g.git", "0123abcd", [branch: "feature/é\"x\"", ref: "#{"{"}", submodules: true]},
  gone: nil,
  other: {:svn, %{"b" => 1, :a => [1 | 2], {1} => 'abc', [] => <<200, 0>>}, [[], [x: 1, "y z": 2], "\t\\\a\e\d\u00ad"], -42, :"Elixir.Foo.Bar", :"foo bar", :+, :"::", Foo, :"Elixir.foo"},
}
Mix.Project.in_project(:lock_probe, ".", fn _ ->
  Mix.Dep.Lock.write("mix-written.lock", awkward)
  read = Mix.Dep.Lock.read("ours.lock")
  if read == %{}, do: raise("Mix could not read ours.lock")
  Mix.Dep.Lock.write("mix-rewritten.lock", read)
end)
b64 = &Base.encode64/1
atoms =
  Enum.map(Enum.to_list(0x20..0x7E) ++ Enum.to_list(0xA0..0x24F) ++ [0x2028, 0x3042, 0x1F600], &:unicode.characters_to_binary([&1])) ++
  ~w(foo Foo foo? foo! foo?! foo@bar @foo a-b 1a _ __MODULE__ do end nil true false Elixir Elixir.Foo Elixir.foo Elixir.Elixir.X Foo.Bar fooBar
     + - * / ++ -- .. ... ..// <<>> %{} {} % -> => :: ^^^ ~~~ <|> // \\ || ||| && &&& == != =~ === !== < <= >= > |> <<< >>> <~ ~> <<~ ~>> <~> <> ** . @ & ! ^ not when in and or |) ++
  ["", "a b", "é", "e\u0301", "ǅ", "日本", "ﬁ", "a\u0000", "\n", "\u0085", "\uFEFF", "x#{"{"}y", "a\"b", "a\\b", "Ñu", "a@", "a?b", "ĳ"]
lines =
  Enum.map(atoms, fn name ->
    a = String.to_atom(name)
    "A\t" <> b64.(name) <> "\t" <> b64.(inspect(a, limit: :infinity)) <> "\t" <> b64.(inspect([{a, 1}], limit: :infinity))
  end) ++
  Enum.map(Enum.to_list(0..0x2FF) ++ [0x2028, 0xD7FF, 0xE000, 0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF], fn cp ->
    s = "a" <> <<cp::utf8>> <> "\"#{"{"}\\"
    "S\t" <> b64.(s) <> "\t" <> b64.(inspect(s, limit: :infinity))
  end) ++
  Enum.map([<<255>>, <<>>, <<0xC0, 0x80>>, <<0xED, 0xA0, 0x80>>, "ok" <> <<0xE2, 0x82>>, String.duplicate("x", 4096), String.duplicate("x", 4097), String.duplicate("x", 4096) <> <<0>>], fn s ->
    "S\t" <> b64.(s) <> "\t" <> b64.(inspect(s, limit: :infinity))
  end) ++
  Enum.map(Enum.map(0..300, &[&1]) ++ [[?a, ?', ?"], [?\#, ?{], [?\\, 10], [], [?a, 955], List.duplicate(?x, 4096), List.duplicate(?x, 4097), List.duplicate(?x, 4096) ++ [0]], fn l ->
    "C\t" <> Enum.join(l, ",") <> "\t" <> b64.(inspect(l, limit: :infinity))
  end)
File.write!("inspect.tsv", Enum.join(lines, "\n"))
`;
    writeFileSync(join(dir, "probe.exs"), script);
    const home = join(dir, "home");
    const r = spawnSync("elixir", ["probe.exs"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, MIX_HOME: home, HEX_HOME: home, HEX_OFFLINE: "1", MIX_ENV: "prod" },
    });
    assert.equal(r.status, 0, r.stderr);

    // (1) What Mix wrote reads and writes back identically.
    const mixWritten = readFileSync(join(dir, "mix-written.lock"), "utf8");
    const parsed = parseMixLock(mixWritten);
    assert.equal(formatMixLock(parsed), mixWritten);
    assert.equal(parsed.has("gone"), false);
    assert.equal(parsed.get("my-app")?.kind, "hex");
    assert.equal((parsed.get("my-app") as HexLockEntry).deps?.[1].repo, "org:acme");
    assert.equal(parsed.get("v6")?.kind, "hex");
    assert.equal(parsed.get("g")?.kind, "git");
    assert.equal(parsed.get("other")?.kind, "other");

    // (2) Mix rewrites our lock to the very same bytes.
    assert.equal(readFileSync(join(dir, "mix-rewritten.lock"), "utf8"), oursText);

    // (3) inspect/1 of each atom, keyword key, string and charlist.
    const from64 = (s: string): Buffer => Buffer.from(s, "base64");
    const mismatches: string[] = [];
    let checked = 0;
    let refused = 0;
    for (const line of readFileSync(join(dir, "inspect.tsv"), "utf8").split("\n")) {
      const [kind, a, b, c] = line.split("\t");
      const check = (term: Term, expected: Buffer, mayRefuse = false): void => {
        checked++;
        if (mayRefuse) {
          try {
            inspectElixir(term);
          } catch (e) {
            assert.ok(e instanceof BeamixError);
            refused++;
            return;
          }
        }
        if (/ (<>|\+\+) \.\.\.$/.test(expected.toString("utf8"))) {
          // Inspect cut the value short; the writer refuses rather than write that.
          assert.throws(() => inspectElixir(term), BeamixError);
          return;
        }
        let got: string;
        try {
          got = inspectElixir(term);
        } catch (e) {
          got = `<error ${(e as Error).message}>`;
        }
        if (got !== expected.toString("utf8")) mismatches.push(`${JSON.stringify(expected.toString("utf8"))} got ${JSON.stringify(got)}`);
      };
      if (kind === "A") {
        const name = from64(a).toString("utf8");
        // Non-ASCII names that could be identifiers are refused (see classifyAtom).
        const nonAscii = /[^\x00-\x7f]/.test(name);
        check(atom(name), from64(b), nonAscii);
        check(list([tuple([atom(name), int(1)])]), from64(c), nonAscii);
      } else if (kind === "S") {
        check(bin(from64(a)), from64(b));
      } else if (kind === "C") {
        check(list(a === "" ? [] : a.split(",").map((n) => int(Number(n)))), from64(b));
      }
    }
    assert.ok(checked - refused > 1500, `only ${checked - refused} values compared`);
    assert.deepEqual(mismatches.slice(0, 10), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("inspectAtom matches the documented Elixir spellings", () => {
  assert.equal(inspectAtom("my-app"), ':"my-app"');
  assert.equal(inspectAtom("Elixir.Foo"), "Foo");
  assert.equal(inspectAtom("nil"), "nil");
  assert.equal(inspectAtom("foo@bar"), ":foo@bar");
});
