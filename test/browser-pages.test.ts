// The dashboard of `beamix serve` and a build's --timeline page, in headless Chromium: what a
// person sees (packages with their toolchain, sizes, signers and uploaded reproducibility
// verdicts; search; the timeline's rows and bars), with screenshots kept in the test's temporary
// directory (printed). Also the dashboard's JSON endpoints and its upload rule.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { beamix } from "./support/cli.ts";
import { makeFixtureRegistry, type FixtureRegistry } from "./support/fixture-registry.ts";
import { startStaticServer, type StaticServer } from "./support/static-server.ts";
import { launchBrowser } from "./support/browser.ts";
import { startServe, stopServe } from "./support/serve-cli.ts";

let work: string;
let registry: FixtureRegistry;
let hexServer: StaticServer;
let browser: Browser;
let secretKey: string;
let publicKey: string;
let challengeJson: string;
const TOKEN = "t0ken-for-the-dashboard-test-0123456789";

const store = () => join(work, "store");
const cache = () => join(work, "cache");
const repoArgs = () => ["--repo", hexServer.url, "--public-key", registry.publicKeyPath];
const env = () => ({ BEAMIX_CACHE_DIR: join(work, "dl"), BEAMIX_CONFIG_DIR: join(work, "config"), HEX_MIRROR: "", HEX_MIRROR_URL: "" });

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-browser-"));
  browser = await launchBrowser();
  registry = await makeFixtureRegistry(join(work, "repo"));
  hexServer = await startStaticServer({ root: registry.dir });
  const keys = await beamix(["key", "generate", "dash-key", "-o", join(work, "keys")], { env: env() });
  assert.equal(keys.code, 0, keys.stderr);
  [secretKey, publicKey] = keys.stdout.trim().split("\n");
  const built = await beamix(["build", "trellis", "-j", "2", "--store", store(), ...repoArgs(), "--timeline", join(work, "timeline.html")], { env: env(), timeoutMs: 600_000 });
  assert.equal(built.code, 0, built.stderr);
  const pub = await beamix(["publish", "trellis", "--store", store(), ...repoArgs(), "--to", `file://${cache()}`, "--sign-with", secretKey], { env: env(), timeoutMs: 600_000 });
  assert.equal(pub.code, 0, pub.stderr);
  const ch = await beamix(["challenge", "trellis", "--store", store(), ...repoArgs(), "--substituters", `file://${cache()}`, "--trusted-key", publicKey, "--json"], { env: env(), timeoutMs: 600_000 });
  assert.equal(ch.code, 0, ch.stderr);
  challengeJson = ch.stdout;
  await writeFile(join(work, "admin-token"), TOKEN + "\n", { mode: 0o600 });
  const graph = await beamix(["graph", "trellis", "--format", "html", "-o", join(work, "graph.html"), "--store", store(), ...repoArgs()], { env: env() });
  assert.equal(graph.code, 0, graph.stderr);
});

after(async () => {
  await browser?.close();
  await hexServer?.close();
  // The screenshots stay for a person to look at; the rest goes.
  for (const d of ["store", "cache", "repo", "dl"]) await rm(join(work, d), { recursive: true, force: true });
});

const serve = (args: string[]) => startServe(args, env());
const stop = stopServe;

const upload = (url: string, body: string, token?: string) =>
  fetch(`${url}/challenges`, { method: "POST", body, headers: token ? { authorization: `Bearer ${token}` } : {} });

test("dashboard of a cache directory: packages with toolchain, sizes, signer; verdicts uploaded with the admin token; search", async () => {
  const s = await serve(["--cache", cache(), "--admin-token-file", join(work, "admin-token"), "--challenges-file", join(work, "verdicts.json")]);
  try {
    // The upload rule: no token, a wrong one, or a malformed report are refused; the cache's own paths still work.
    assert.equal((await upload(s.url, challengeJson)).status, 401);
    assert.equal((await upload(s.url, challengeJson, "wrong-token-wrong-token-wrong")).status, 401);
    const bad = await upload(s.url, '{"items":[{"drvHash":"x"}]}', TOKEN);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /^not recorded: items\[0\]\.drvHash: not a derivation hash/);
    const ok = await upload(s.url, challengeJson, TOKEN);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { recorded: 5 });
    assert.equal((await fetch(`${s.url}/beamix-cache-info`)).status, 200);

    const api = (await (await fetch(`${s.url}/api/packages?q=beacon`)).json()) as { items: { name: string; signedBy: string[]; toolchain: Record<string, string>; challenge: { verdict: string } }[]; keys: { name: string }[] };
    assert.deepEqual(api.items.map((i) => i.name), ["beacon"]);
    assert.deepEqual(api.items[0].signedBy, ["dash-key"]);
    assert.ok(api.items[0].toolchain.otp, "the record's toolchain");
    assert.equal(api.items[0].challenge.verdict, "consistent");
    assert.deepEqual(api.keys.map((k) => k.name), ["dash-key"]);

    const page = await browser.newPage();
    await page.goto(`${s.url}/`);
    assert.equal(await page.title(), "beamix binary cache");
    const summary = await page.locator("#summary").innerText();
    assert.match(summary, /^5 items of 5 packages, .* unpacked\. Reproducibility: 5 consistent, 0 differ, 0 inconclusive, 0 not challenged\.$/);
    assert.equal(await page.locator("#packages tbody tr.item:visible").count(), 5);
    const trellis = page.locator("#packages tr.item", { hasText: "0.9.0" });
    const cells = await trellis.locator("td").allInnerTexts();
    assert.equal(cells[0], "0.9.0");
    assert.match(cells[1], /^\d+(\.\d+)*$/, "OTP version");
    assert.match(cells[4], /^\d+\.\d (KiB|MiB)$/, "size");
    assert.equal(cells[6], "dash-key");
    assert.equal(cells[7], "consistent");
    await page.screenshot({ path: join(work, "dashboard.png"), fullPage: true });

    // Typing in the search box filters as one types; ?q= does the same without the script.
    await page.fill("#search", "sock");
    assert.equal(await page.locator("#packages tbody tr.item:visible").count(), 1);
    assert.equal(await page.locator("#shown").innerText(), "1 shown");
    assert.match(await page.locator("#packages tr.package:visible").innerText(), /^sockadapt/);
    await page.screenshot({ path: join(work, "dashboard-search.png"), fullPage: true });
    await page.goto(`${s.url}/?q=mimetable`);
    assert.equal(await page.locator("#packages tbody tr.item:visible").count(), 1);
    await page.close();
  } finally {
    await stop(s.child);
  }
  // Verdicts survive a restart through --challenges-file; without --admin-token-file uploads are off.
  const again = await serve(["--cache", cache(), "--challenges-file", join(work, "verdicts.json")]);
  try {
    const all = (await (await fetch(`${again.url}/api/challenges`)).json()) as { items: { verdict: string }[] };
    assert.equal(all.items.length, 5);
    assert.equal((await upload(again.url, challengeJson, TOKEN)).status, 403);
  } finally {
    await stop(again.child);
  }
  process.stderr.write(`screenshots: ${join(work, "dashboard.png")} ${join(work, "dashboard-search.png")}\n`);
});

test("dashboard of a store (records signed on request): toolchain from how items were made; --no-dashboard serves only the cache", async () => {
  const s = await serve(["--store", store(), "--sign-with", secretKey]);
  try {
    const page = await browser.newPage();
    await page.goto(`${s.url}/`);
    assert.match(await page.locator("#summary").innerText(), /^5 items of 5 packages, .* 5 not challenged\.$/);
    assert.equal(await page.locator("#keys li").innerText(), (await readFile(publicKey, "utf8")).trim());
    const cells = await page.locator("#packages tr.item", { hasText: "0.9.0" }).locator("td").allInnerTexts();
    assert.match(cells[1], /^\d+(\.\d+)*$/);
    assert.match(cells[3], /linux/);
    assert.equal(cells[7], "not challenged");
    await page.close();
  } finally {
    await stop(s.child);
  }
  const bare = await serve(["--cache", cache(), "--no-dashboard"]);
  try {
    assert.equal((await fetch(`${bare.url}/`)).status, 404);
    assert.equal((await fetch(`${bare.url}/api/packages`)).status, 404);
  } finally {
    await stop(bare.child);
  }
});

test("the --timeline page of a build: a row per package, bars for the build phases, details on click", async () => {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(join(work, "timeline.html")).href);
  assert.equal(await page.title(), "beamix build trellis");
  assert.deepEqual((await page.locator("#rows .row").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.package))).sort(), [
    "beacon 1.2.0",
    "mimetable 1.0.0",
    "plugboard 0.4.0",
    "sockadapt 0.1.2",
    "trellis 0.9.0",
  ]);
  assert.match(await page.locator("body > p").first().innerText(), /: 5 built, 0 substituted, 0 already present, 0 failed\.$/);
  const trellis = page.locator('#rows .row[data-package="trellis 0.9.0"]');
  const phases = await trellis.locator(".bar.phase").evaluateAll((bars) => bars.map((b) => b.getAttribute("title")!.split(": ")[1].split(",")[0]));
  assert.ok(phases.includes("build") && phases.includes("install"), phases.join(" | "));
  // The build phase, the widest bar of the row: clicking it says what it was and how long it took.
  await trellis.locator('.bar.phase[title*=": build,"]').click();
  assert.match(await page.locator("#details").innerText(), /^trellis 0\.9\.0: build, \d+\.\d\d s \(from \d+\.\d\d s to \d+\.\d\d s\)$/);
  await trellis.click({ position: { x: 5, y: 5 } });
  assert.match(await page.locator("#details").innerText(), /^trellis 0\.9\.0: built in \d+\.\d\d s/);
  assert.equal(await page.locator("#packages tbody tr").count(), 5);
  await page.screenshot({ path: join(work, "timeline.png"), fullPage: true });
  await page.close();
  process.stderr.write(`screenshot: ${join(work, "timeline.png")}\n`);
});

test("the graph page (graph --format html): an item per box; clicking one lists its closure; the filter dims the others", async () => {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(join(work, "graph.html")).href);
  assert.match(await page.locator("#summary").innerText(), /^5 items, \d+ references, \d+\.\d KiB$/);
  assert.equal(await page.locator("#graph g.node").count(), 5);
  await page.locator("#graph g.node", { hasText: "plugboard 0.4.0" }).click();
  assert.match(await page.locator("#details p").innerText(), /^plugboard 0\.4\.0: \d items in its closure, /);
  const listed = await page.locator("#details li").allInnerTexts();
  assert.ok(listed.some((l) => l.startsWith("plugboard 0.4.0")) && !listed.some((l) => l.startsWith("trellis")), listed.join(" | "));
  await page.locator("#graph g.node", { hasText: "trellis 0.9.0" }).click();
  assert.match(await page.locator("#details p").innerText(), /^trellis 0\.9\.0: 5 items in its closure, /);
  await page.fill("#search", "beacon");
  assert.equal(await page.locator("#graph g.node.dim").count(), 4);
  await page.screenshot({ path: join(work, "graph.png"), fullPage: true });
  await page.close();
  process.stderr.write(`screenshot: ${join(work, "graph.png")}\n`);
});
