// SHA-256 of the concatenation of the parts, as lowercase hex: the checksum format everywhere.
import { createHash } from "node:crypto";

export function sha256Hex(...parts: (Uint8Array | string)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}
