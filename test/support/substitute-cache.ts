// Test helpers for binary caches: hand-made store items, and a misbehaving HTTP server in front of
// a cache directory that can truncate, cut, stall or trickle chosen files.
import { createServer, type ServerResponse } from "node:http";
import { mkdir, readFile, symlink, writeFile, chmod } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import type { Store, StoreItem } from "../../src/store/store.ts";

export type TreeSpec = Record<string, string | { exec: string } | { link: string }>;

export async function writeTreeSpec(dir: string, spec: TreeSpec): Promise<void> {
  for (const [rel, v] of Object.entries(spec)) {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    if (typeof v === "string") await writeFile(path, v);
    else if ("exec" in v) {
      await writeFile(path, v.exec);
      await chmod(path, 0o755);
    } else await symlink(v.link, path);
  }
}

// Registers a store item with the given files and references.
export async function makeItem(store: Store, drvHash: string, name: string, version: string, spec: TreeSpec, references: StoreItem[] = []): Promise<StoreItem> {
  const stage = await store.createStagingDir();
  await writeTreeSpec(stage, spec);
  return store.register({ drvHash, name, version, stagingDir: stage, references: references.map((r) => r.path), deriver: { drvHash, note: "test" } });
}

export type Behaviour =
  | "normal"
  | "truncate" // a short file, with a Content-Length that matches it
  | "close" // the full Content-Length announced, half the bytes sent, then the socket destroyed
  | "hang" // headers sent, then nothing
  | "error" // HTTP 500
  | { trickle: number } // the file in pieces of this many bytes every 50 ms
  | { stallBefore: number }; // all but the last this-many bytes, then nothing

export interface MisbehavingServer {
  url: string;
  requests: string[];
  behave: (key: string) => Behaviour; // replaceable
  setBehaviour(f: (key: string) => Behaviour): void;
  onArchiveBytes?: (key: string, sent: number) => void;
  close(): Promise<void>;
}

export async function startMisbehavingServer(root: string): Promise<MisbehavingServer> {
  const state: MisbehavingServer = {
    url: "",
    requests: [],
    behave: () => "normal",
    setBehaviour(f) {
      state.behave = f;
    },
    close: async () => {},
  };
  const send = async (res: ServerResponse, key: string, body: Buffer, b: Behaviour) => {
    if (b === "error") {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("broken\n");
    } else if (b === "truncate") {
      const short = body.subarray(0, Math.floor(body.length / 2));
      res.writeHead(200, { "content-length": short.length });
      res.end(short);
    } else if (b === "close") {
      res.writeHead(200, { "content-length": body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (b === "hang") {
      res.writeHead(200, { "content-length": body.length });
      res.flushHeaders();
    } else if (typeof b === "object" && "stallBefore" in b) {
      res.writeHead(200, { "content-length": body.length });
      res.write(body.subarray(0, body.length - b.stallBefore));
      state.onArchiveBytes?.(key, body.length - b.stallBefore);
    } else if (typeof b === "object") {
      res.writeHead(200, { "content-length": body.length });
      let sent = 0;
      const tick = () => {
        if (res.destroyed) return;
        const piece = body.subarray(sent, sent + b.trickle);
        sent += piece.length;
        res.write(piece);
        state.onArchiveBytes?.(key, sent);
        if (sent < body.length) setTimeout(tick, 50);
        else res.end();
      };
      tick();
    } else {
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
    }
  };
  const server = createServer((req, res) => {
    const key = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).slice(1);
    state.requests.push(key);
    if (key.includes("..")) {
      res.writeHead(400);
      res.end();
      return;
    }
    readFile(join(root, key)).then(
      (body) => send(res, key, body, state.behave(key)),
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  return state;
}
