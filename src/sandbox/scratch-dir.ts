// Scratch directories of builds and of project reads (beamix-build-*, beamix-read-* under the
// work root, the system's temporary directory by default). A process killed with SIGKILL cannot
// remove its own, and nothing else would, so each is named after the process that made it
// (pid and start time, see ../store/process-id.ts) and the first one a process makes in a root
// removes those of either kind whose process is gone.
import { mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { formatId, isAlive, parseId, selfId } from "../store/process-id.ts";
import { removeTree } from "../store/perms.ts";

export type ScratchKind = "build" | "read";

const swept = new Set<string>();

async function sweep(root: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return; // mkdtemp reports a missing root
  }
  for (const name of names) {
    const m = /^beamix-(?:build|read)-(\d+-\d+)-/.exec(name);
    const owner = m ? parseId(m[1]) : undefined;
    if (!owner || isAlive(owner)) continue; // an older beamix's name, or a live owner
    try {
      await removeTree(join(root, name));
    } catch {
      // another user's, or removed meanwhile by another run
    }
  }
}

// A fresh directory beamix-<kind>-<pid>-<start>-<label>-XXXXXX in `root`.
export async function makeScratchDir(root: string, kind: ScratchKind, label: string): Promise<string> {
  if (!swept.has(root)) {
    swept.add(root);
    await sweep(root);
  }
  return mkdtemp(join(root, `beamix-${kind}-${formatId(selfId())}-${label.replace(/[^A-Za-z0-9._-]+/g, "-")}-`));
}
