// `beamix hex pack`: a package directory → a reproducible Hex tarball (format 3).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readPackageDir } from "./package-dir.ts";
import { buildTarball } from "../hex/tarball.ts";
import type { HexMetadata } from "../hex/metadata.ts";

export interface PackResult {
  metadata: HexMetadata;
  tarball: Buffer;
  innerChecksum: string;
  outerChecksum: string;
}

export async function packDirectory(dir: string): Promise<PackResult> {
  const source = await readPackageDir(dir);
  const files = await Promise.all(
    source.files.map(async (f) => ((f.mode & 0o170000) === 0o040000 ? f : { ...f, data: await readFile(join(dir, f.path)) })),
  );
  const built = buildTarball({ metadata: source.metadata, files });
  return { metadata: source.metadata, ...built };
}

export function tarballFileName(m: Pick<HexMetadata, "name" | "version">): string {
  return `${m.name}-${m.version}.tar`;
}
