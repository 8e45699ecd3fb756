// Mix's answers shared through a binary cache, as a library: their format and signature, what
// publishing writes, how Substituters picks the first trusted answers among several caches and
// reports the others, and how `beamix serve` serves them. (End to end through the CLI:
// test/deps-substitute.test.ts.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, parsePublicKey, parseSecretKey, type SecretKey, type PublicKey } from "../src/signing/keys.ts";
import { FileBackend } from "../src/substitute/backends/file-backend.ts";
import { openStore } from "../src/store/store.ts";
import { formatCacheInfo } from "../src/substitute/format/cache-info.ts";
import { Substituters } from "../src/substitute/client/substituters.ts";
import { keyOfPath, startSubstituteServer } from "../src/substitute/server/serve.ts";
import {
  formatSharedAnswers,
  MAX_SHARED_ANSWERS_BYTES,
  mixAnswersKey,
  parseSharedAnswers,
  publishSharedAnswers,
  readSharedAnswers,
  signSharedAnswers,
  verifySharedAnswers,
} from "../src/substitute/format/mix-answers.ts";

let work: string;
let secret: SecretKey;
let pub: PublicKey;
let other: SecretKey;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-mix-answers-shared-"));
  const pair = generateKeyPair("answers-test-1");
  secret = parseSecretKey(pair.secretText);
  pub = parsePublicKey(pair.publicText);
  other = parseSecretKey(generateKeyPair("answers-other-1").secretText);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const K = (c: string) => c.repeat(64);
const BODY = JSON.stringify({ format: "beamix-mix-answers/3", dir: "/.beamix-shared-project", children: {}, rebar: {} });

async function cache(name: string, priority = 40): Promise<FileBackend> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "beamix-cache-info"), formatCacheInfo({ format: 1, priority }));
  return new FileBackend(dir);
}

test("answers round-trip signed; a changed body, another key or an untrusted signer does not verify", () => {
  const signed = signSharedAnswers({ key: K("a"), body: BODY, signatures: [] }, secret);
  const back = parseSharedAnswers(formatSharedAnswers(signed), "x", K("a"));
  assert.deepEqual(back, signed);
  assert.deepEqual(verifySharedAnswers(back, [pub], 1), { ok: true, keys: ["answers-test-1"] });
  assert.equal(mixAnswersKey(K("a")), `mix-answers/${K("a")}.json`);
  assert.throws(() => mixAnswersKey("../x"), /invalid Mix answers key/);

  const tampered = { ...back, body: BODY.replace("rebar", "rebaR") };
  assert.deepEqual(verifySharedAnswers(tampered, [pub], 1), { ok: false, reason: "signature by answers-test-1 does not verify" });
  // The signature covers the key: the same body moved under another key is refused.
  assert.equal(verifySharedAnswers({ ...back, key: K("b") }, [pub], 1).ok, false);
  const byOther = signSharedAnswers({ key: K("a"), body: BODY, signatures: [] }, other);
  assert.deepEqual(verifySharedAnswers(byOther, [pub], 1), { ok: false, reason: "signed by answers-other-1, which is not a trusted key" });
  assert.deepEqual(verifySharedAnswers({ ...back, signatures: [] }, [pub], 1), { ok: false, reason: "the answers are not signed" });
  // Two required: one trusted signature is not enough.
  assert.match((verifySharedAnswers(back, [pub], 2) as { reason: string }).reason, /only 1 trusted signature of the 2 required/);
  // Signing again with the same key replaces its signature.
  assert.equal(signSharedAnswers(signed, secret).signatures.length, 1);
});

test("malformed answers and answers filed under another key are refused with the origin named", () => {
  const ok = JSON.parse(formatSharedAnswers({ key: K("a"), body: BODY, signatures: [] }));
  const bad = (x: unknown, re: RegExp) => assert.throws(() => parseSharedAnswers(typeof x === "string" ? x : JSON.stringify(x), "http://c/mix-answers/a.json", K("a")), re);
  bad("{", /http:\/\/c\/mix-answers\/a\.json: not JSON/);
  bad({ ...ok, format: "other" }, /not a beamix-shared-mix-answers\/1 file/);
  bad({ ...ok, key: K("b") }, /filed under key "b+", not a+/);
  bad({ ...ok, body: 3 }, /no body/);
  bad({ ...ok, signatures: "x" }, /signatures is not a list/);
  bad({ ...ok, signatures: Array.from({ length: 17 }, () => "k:x") }, /at most 16/);
  bad({ ...ok, signatures: [1] }, /signatures is not a list/);
});

test("publishing writes signed answers once; the same answers again write nothing, other answers replace them", async () => {
  const c = await cache("publish");
  assert.equal(await publishSharedAnswers(c, K("a"), BODY, secret), true);
  const text = await readFile(join(work, "publish", "mix-answers", `${K("a")}.json`), "utf8");
  assert.equal(verifySharedAnswers(parseSharedAnswers(text, "x", K("a")), [pub], 1).ok, true);
  assert.equal(await publishSharedAnswers(c, K("a"), BODY, secret), false);
  // A second publisher's signature is added to the same body, not put in place of the first.
  assert.equal(await publishSharedAnswers(c, K("a"), BODY, other), true);
  assert.equal((await readSharedAnswers(c, K("a")))!.signatures.length, 2);
  const newer = BODY.replace("children", "children ");
  assert.equal(await publishSharedAnswers(c, K("a"), newer, secret), true);
  const now = (await readSharedAnswers(c, K("a")))!;
  assert.equal(now.body, newer);
  assert.equal(now.signatures.length, 1);
  // Answers no client would take are not written.
  assert.equal(await publishSharedAnswers(c, K("b"), "x".repeat(MAX_SHARED_ANSWERS_BYTES), secret), false);
  assert.equal(await readSharedAnswers(c, K("b")), undefined);
});

test("Substituters take the first trusted answers in priority order and say why they passed the others", async () => {
  const first = await cache("first", 10);
  const second = await cache("second", 20);
  const third = await cache("third", 30);
  // The preferred cache's answers are damaged; the second's are signed by an unknown key.
  await mkdir(join(work, "first", "mix-answers"));
  await writeFile(join(work, "first", "mix-answers", `${K("c")}.json`), "{");
  await publishSharedAnswers(second, K("c"), BODY.replace("}", ',"x":2}'), other);
  await publishSharedAnswers(third, K("c"), BODY, secret);
  const lines: string[] = [];
  const subs = new Substituters({ backends: [third, first, second], trustedKeys: [pub], report: (l) => lines.push(l) });
  assert.equal(await subs.mixAnswers(K("c")), BODY);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /^ignoring the Mix answers of file:\/\/.*\/first: .*not JSON$/);
  assert.match(lines[1], /^ignoring the Mix answers of file:\/\/.*\/second: signed by answers-other-1, which is not a trusted key$/);
  // No cache has answers under another key: nothing, and nothing said.
  lines.length = 0;
  assert.equal(await subs.mixAnswers(K("d")), undefined);
  assert.deepEqual(lines, []);
  // Oversized answers are refused without being read whole.
  await writeFile(join(work, "third", "mix-answers", `${K("e")}.json`), "x".repeat(MAX_SHARED_ANSWERS_BYTES + 1));
  assert.equal(await subs.mixAnswers(K("e")), undefined);
  assert.match(lines.join("\n"), /more than the limit of 4194304/);
});

test("beamix serve serves answers from a cache directory, and none from a store", async () => {
  assert.equal(keyOfPath(`/mix-answers/${K("a")}.json`), `mix-answers/${K("a")}.json`);
  assert.throws(() => keyOfPath("/mix-answers/x.json"), /not found/);
  assert.throws(() => keyOfPath(`/mix-answers/${K("a")}.txt`), /not found/);
  const dir = join(work, "served");
  await cache("served");
  await publishSharedAnswers(new FileBackend(dir), K("a"), BODY, secret);
  const server = await startSubstituteServer({ source: { kind: "cache", dir }, host: "127.0.0.1" });
  try {
    const subs = new Substituters({ urls: [server.url], trustedKeys: [pub] });
    assert.equal(await subs.mixAnswers(K("a")), BODY);
    const res = await fetch(`${server.url}/mix-answers/${K("a")}.json`);
    assert.equal(res.headers.get("content-type"), "application/json");
    await res.arrayBuffer();
  } finally {
    await server.close();
  }
  // A store has no answers to serve: 404, not an error.
  const store = await openStore(join(work, "store"));
  const fromStore = await startSubstituteServer({ source: { kind: "store", store }, host: "127.0.0.1" });
  try {
    const res = await fetch(`${fromStore.url}/mix-answers/${K("a")}.json`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.equal(await new Substituters({ urls: [fromStore.url], trustedKeys: [pub], requireSigs: 0 }).mixAnswers(K("a")), undefined);
  } finally {
    await fromStore.close();
    await store.close();
  }
});
