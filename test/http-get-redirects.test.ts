// A repository's auth key goes only to the origin it was configured for: a redirect to another
// origin (a CDN, a hostile mirror) is followed without it, one within the origin keeps it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { httpGet } from "../src/util/http-get.ts";

async function serve(handler: (path: string, headers: IncomingHttpHeaders) => { status: number; location?: string; body?: string }): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const r = handler(req.url ?? "/", req.headers);
    res.writeHead(r.status, r.location ? { location: r.location } : {});
    res.end(r.body ?? "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function bodyOf(url: string, headers: Record<string, string>): Promise<string> {
  const res = await httpGet(url, { idleTimeoutMs: 5000, deadlineMs: 10_000, headers });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

test("the authorization header is dropped on a redirect to another origin and kept within one", async () => {
  const seen: { where: string; auth: string | undefined; cookie: string | undefined }[] = [];
  const other = await serve((path, h) => {
    seen.push({ where: `other${path}`, auth: h.authorization, cookie: h.cookie });
    return { status: 200, body: "elsewhere" };
  });
  const origin = await serve((path, h) => {
    seen.push({ where: `origin${path}`, auth: h.authorization, cookie: h.cookie });
    if (path === "/away") return { status: 302, location: `${other.url}/tarball` };
    if (path === "/here") return { status: 301, location: "/final" };
    return { status: 200, body: "home" };
  });
  try {
    assert.equal(await bodyOf(`${origin.url}/away`, { authorization: "secret-key", cookie: "c=1", accept: "x" }), "elsewhere");
    assert.deepEqual(seen.splice(0), [
      { where: "origin/away", auth: "secret-key", cookie: "c=1" },
      { where: "other/tarball", auth: undefined, cookie: undefined },
    ]);
    assert.equal(await bodyOf(`${origin.url}/here`, { authorization: "secret-key" }), "home");
    assert.deepEqual(seen.splice(0).map((s) => [s.where, s.auth]), [
      ["origin/here", "secret-key"],
      ["origin/final", "secret-key"],
    ]);
  } finally {
    origin.server.close();
    other.server.close();
  }
});
