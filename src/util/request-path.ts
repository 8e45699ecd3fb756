// What a request to one of beamix's read-only HTTP servers (beamix serve, beamix hex serve) asks
// for, checked on the raw path so that encoded separators and dots cannot slip past the checks,
// and whether the client already has it.
import type { IncomingMessage } from "node:http";

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

// The path's segments (no query, no fragment, no empty leading one), or a 400 HttpError for
// anything that could name something outside the served tree.
export function requestSegments(rawUrl: string): string[] {
  const raw = rawUrl.split("?")[0].split("#")[0];
  if (!raw.startsWith("/") || /%(2f|5c|00|2e)/i.test(raw) || raw.includes("\\") || raw.includes("\0")) throw new HttpError(400, "bad request path");
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "bad request path");
  }
  const segments = path.slice(1).split("/");
  if (segments.some((s) => s === "." || s === "..")) throw new HttpError(400, "bad request path");
  return segments;
}

// If-None-Match uses the weak comparison: W/"x" matches "x".
export function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers["if-none-match"];
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}
