// What a project's restore record from a cache must be before anything of it is fetched
// (src/deps/shared-restore.ts parseSharedRestore): signed records are still checked, so that one
// made by a trusted key on a broken or hostile machine writes nothing outside the dependencies'
// directories, roots no item it does not name and reads no file outside the project.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSharedRestore, type SharedRestore } from "../src/deps/shared-restore.ts";

const P = "/.beamix-shared-project";
const S = "/.beamix-shared-store";
const H = "a".repeat(64);
const item = `${H}-jsonish-1.0.0`;

function valid(): SharedRestore {
  return {
    format: "beamix-shared-deps-restore/1",
    mixEnv: "test",
    toolchain: ["25.2.3", "13.1.5", "2.16", "x86_64-pc-linux-gnu", "1.14.0", "3.19.0"],
    portableState: "{}",
    inputs: [["mix.exs", Buffer.from("defmodule X do end").toString("base64")], ["config/config.exs", null]],
    items: [{ item, drvHash: H, name: "jsonish", version: "1.0.0", references: [] }],
    trees: [
      { kind: "deps", path: "deps/jsonish", mode: 0o755, pack: ["b".repeat(64), 10], entries: [["d", "lib", 0o755], ["f", "lib/a.ex", 0, 10, 0o644]], late: 2 },
      { kind: "build", path: "_build/test/lib/jsonish", mode: 0o755, pack: null, entries: [["s", "ebin/a.beam", `${item}/ebin/a.beam`, 0o644]], late: 1 },
    ],
    report: {
      project: { app: "webapp", dir: P, mixEnv: "test", buildPath: `${P}/_build/test`, depsPath: `${P}/deps` },
      packages: [],
      pathDeps: [],
      failed: [],
      skipped: [],
      changed: true,
      items: [{ name: "jsonish", version: "1.0.0", app: "jsonish", path: `${S}/${item}`, drvHash: H, status: "built", reads: [] }],
    },
  };
}

test("a record as beamix pushes it is read back", () => {
  assert.deepEqual(parseSharedRestore(JSON.stringify(valid())), valid());
});

test("a record that would write or read outside the dependencies' directories, or name items it does not hold, is refused", () => {
  const bad: [string, (r: SharedRestore) => void][] = [
    ["a tree elsewhere in the project", (r) => void (r.trees[0].path = "lib/evil")],
    ["a tree climbing out", (r) => void (r.trees[0].path = "deps/../../etc")],
    ["a build tree in deps", (r) => void (r.trees[1].path = "deps/other")],
    ["an entry climbing out", (r) => void (r.trees[0].entries[1][1] = "../../x")],
    ["a store file of another item", (r) => void (r.trees[1].entries[0][2] = `${"c".repeat(64)}-other-1.0.0/ebin/a.beam`)],
    ["a store file climbing out of its item", (r) => void (r.trees[1].entries[0][2] = `${item}/../../etc/passwd`)],
    ["an input outside the project", (r) => void (r.inputs[0][0] = "/etc/passwd")],
    ["an input climbing out", (r) => void (r.inputs[0][0] = "../secret")],
    ["an item whose name is not its hash's", (r) => void (r.items[0].drvHash = "c".repeat(64))],
    ["a report naming another item", (r) => void (r.report.items[0].path = `${S}/${"c".repeat(64)}-x-1`)],
    ["a pack that is not a SHA-256", (r) => void (r.trees[0].pack = ["../../x", 10])],
    ["another format", (r) => void ((r as { format: string }).format = "beamix-shared-deps-restore/0")],
    ["no trees", (r) => void (r.trees = [])],
    ["a reference to an item it does not hold", (r) => void (r.items[0].references = [`${"c".repeat(64)}-other-1.0.0`])],
    ["an item referencing itself", (r) => void (r.items[0].references = [item])],
    [
      "references in a cycle",
      (r) => {
        const other = `${"d".repeat(64)}-cycle-1.0.0`;
        r.items.push({ item: other, drvHash: "d".repeat(64), name: "cycle", version: "1.0.0", references: [item] });
        r.items[0].references = [other];
        r.report.items.push({ ...r.report.items[0], name: "cycle", path: `${S}/${other}`, drvHash: "d".repeat(64) });
      },
    ],
  ];
  for (const [what, change] of bad) {
    const r = valid();
    change(r);
    assert.throws(() => parseSharedRestore(JSON.stringify(r)), /not a restore record/, what);
  }
  assert.throws(() => parseSharedRestore("{"), SyntaxError);
});
