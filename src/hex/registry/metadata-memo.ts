// Parsing a package's metadata.config (Erlang terms) costs ~1 ms per package in a fresh process,
// on the path of every no-op build. The repository client keeps the parse of each metadata text
// under the SHA-256 of that text, as external term format, which decodes far faster. It writes
// one only after the tarball passed every check, so a rejected tarball leaves nothing behind.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binaryToTerm, termToBinary } from "../../erlang/etf.ts";
import { list, listView } from "../../erlang/term.ts";
import type { HexMetadata } from "../metadata.ts";
import { metadataFromTerms, metadataToTerms, parseMetadataConfig } from "../metadata-terms.ts";

export class MetadataMemo {
  readonly #dir: string;
  readonly #misses = new Map<string, HexMetadata>(); // path -> parse, to write once verified

  constructor(dir: string) {
    this.#dir = dir;
  }

  readonly parse = (text: string, where: string): HexMetadata => {
    const path = join(this.#dir, `${createHash("sha256").update(text).digest("hex")}.etf`);
    try {
      const items = listView(binaryToTerm(readFileSync(path)))?.items;
      if (items) return metadataFromTerms(items, where);
    } catch {
      // missing or unreadable: parse the text below
    }
    const metadata = parseMetadataConfig(text, where);
    this.#misses.set(path, metadata);
    return metadata;
  };

  // Keeps the parses of texts whose tarball has now been verified.
  remember(metadata: HexMetadata): void {
    for (const [path, m] of this.#misses) {
      if (m !== metadata) continue;
      this.#misses.delete(path);
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        mkdirSync(this.#dir, { recursive: true });
        writeFileSync(tmp, termToBinary(list(metadataToTerms(m))));
        renameSync(tmp, path);
      } catch {
        rmSync(tmp, { force: true }); // a read-only cache only costs speed
      }
    }
  }
}
