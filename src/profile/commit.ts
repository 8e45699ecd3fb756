// Making a new generation visible: GC roots first (while the items are still held by this
// process's temporary roots), then the directory written under a temporary name and renamed into
// place, then the profile switched to it. Whatever fails or kills the process, the profile shows
// the old generation or the complete new one. The caller holds the profile lock.
import { mkdir, rm } from "node:fs/promises";
import { BeamixError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { writeGeneration } from "./generation.ts";
import { commitGeneration, generationNumbers, generationPath, switchLink, temporaryPath, type Profile } from "./location.ts";
import type { ProfileManifest } from "./manifest.ts";
import { addGenerationRoots, removeGenerationRoots } from "./roots.ts";

export async function createGeneration(p: Profile, manifest: ProfileManifest, opts: { store: Store; toolchain: Toolchain }): Promise<string> {
  const n = manifest.generation;
  if ((await generationNumbers(p)).includes(n)) throw new BeamixError(`generation ${n} of profile ${p.path} exists already`);
  const staging = temporaryPath(p, `${n}-link`);
  let committed = false;
  try {
    await addGenerationRoots(opts.store, p, n, manifest.packages);
    await mkdir(staging);
    await writeGeneration(staging, { items: manifest.packages, toolchain: opts.toolchain, home: generationPath(p, n), envHome: p.path, manifest });
    const final = await commitGeneration(p, staging, n);
    committed = true;
    await switchLink(p, n);
    return final;
  } finally {
    if (!committed) {
      await rm(staging, { recursive: true, force: true });
      await removeGenerationRoots(opts.store, p, n);
    }
  }
}
