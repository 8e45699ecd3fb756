// What a restore record may name before anything is written from it (src/deps/checkout-restore.ts
// wellFormed): every path inside the project, every store file inside one of the record's items
// (named without "." or ".."), no tree inside another, nothing written through a link the record
// makes. A record is in the user's cache; one that names anything else is not beamix's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { wellFormed } from "../src/deps/checkout-restore.ts";
import type { Entry } from "../src/deps/restore-writer.ts";

type Record = Parameters<typeof wellFormed>[0];
const project = "/work/app";
const records = "/cache/deps-state";
const store = "/store";
const item = `${store}/0123-a-1.0.0`;
const pack = `${records}/restore-packs/${"ab".repeat(32)}.pack`;

function record(o: { deps?: Entry[]; build?: Entry[]; paths?: [string, string] } = {}): Record {
  const [depsPath, buildPath] = o.paths ?? ["deps/a", "_build/prod/lib/a"];
  const deps = o.deps ?? [["d", "lib", 0o755], ["f", "lib/a.ex", 0, 100, 0o644], ["l", "lib/b.ex", "a.ex"]];
  const build = o.build ?? [["d", "ebin", 0o755], ["s", "ebin/a.beam", `${item}/ebin/a.beam`, 0o644], ["l", "priv", "../../../../deps/a/priv"]];
  return {
    storeDir: store,
    items: [[item, "d", "1", "4096", "1", "1"]],
    trees: [
      { kind: "deps", path: depsPath, mode: 0o755, pack: [pack, "f", "2", "100", "1", "1"], entries: deps, late: deps.length },
      { kind: "build", path: buildPath, mode: 0o755, pack: null, entries: build, late: build.length },
    ],
  } as unknown as Record;
}

const ok = (r: Record) => wellFormed(r, project, records);

test("a record as beamix writes it is well formed", () => {
  assert.equal(ok(record()), true);
});

test("a store file must be one of the record's items' files, named plainly", () => {
  const copy = (from: string): Entry[] => [["d", "ebin", 0o755], ["s", "ebin/a.beam", from, 0o644]];
  assert.equal(ok(record({ build: copy(`${item}/ebin/../../../home/user/.ssh/id_rsa`) })), false, "out of the item by ..");
  assert.equal(ok(record({ build: copy(`${item}/./ebin/a.beam`) })), false);
  assert.equal(ok(record({ build: copy(`${item}//ebin/a.beam`) })), false);
  assert.equal(ok(record({ build: copy(item) })), false, "the item itself");
  assert.equal(ok(record({ build: copy(`${store}/4567-b-1.0.0/ebin/b.beam`) })), false, "another item");
  assert.equal(ok(record({ build: copy("/etc/passwd") })), false);
});

test("every path stays inside its tree, every tree inside the project and apart from the others", () => {
  for (const bad of ["/etc/passwd", "../x", "lib/../../x", "lib/./a.ex", "lib//a.ex", "lib/", ""]) {
    assert.equal(ok(record({ deps: [["f", bad, 0, 1, 0o644]] })), false, bad);
  }
  assert.equal(ok(record({ paths: ["deps/a", "deps/a/b"] })), false, "a tree inside another");
  assert.equal(ok(record({ paths: ["deps/a", "deps/a"] })), false, "a tree twice");
  assert.equal(ok(record({ paths: ["deps/a", "deps/a-b"] })), true, "a sibling whose name starts with the other's");
  assert.equal(ok(record({ paths: ["../a", "_build/prod/lib/a"] })), false);
});

test("nothing is written through a link the record makes", () => {
  assert.equal(ok(record({ deps: [["l", "lib", "/tmp"], ["f", "lib/a.ex", 0, 1, 0o644]] })), false);
  assert.equal(ok(record({ deps: [["l", "lib", "/tmp"], ["d", "lib/x", 0o755], ["f", "lib/x/a.ex", 0, 1, 0o644]] })), false);
  assert.equal(ok(record({ deps: [["l", "lib", "/tmp"], ["f", "lib-a.ex", 0, 1, 0o644]] })), true, "a name that only starts with the link's");
});

test("a file's bytes lie within its tree's pack", () => {
  assert.equal(ok(record({ deps: [["f", "a.ex", 90, 11, 0o644]] })), false);
  assert.equal(ok(record({ deps: [["f", "a.ex", -1, 1, 0o644]] })), false);
  assert.equal(ok(record({ deps: [["f", "a.ex", 90, 10, 0o644]] })), true);
});
