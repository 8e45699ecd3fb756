// SHA-256 of the concatenation of the parts, as lowercase hex: the checksum format everywhere.
// node:crypto is loaded at the first hash, not with this module: loading it costs ~13 ms, which
// a command that ends before hashing anything (the replay of an unchanged `beamix deps`) saves.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let crypto: typeof import("node:crypto") | undefined;

export function sha256Hex(...parts: (Uint8Array | string)[]): string {
  crypto ??= require("node:crypto") as typeof import("node:crypto");
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}
