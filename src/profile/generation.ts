// The contents of a generation (or of a `beamix shell` environment):
//   lib/erlang/lib/<app>-<vsn>  symlinks into the store items, for the whole closure
//   bin/erl, bin/elixir, …      wrappers (wrappers.ts)
//   etc/profile                 for `. PROFILE/etc/profile`
//   manifest.json               (profiles only)
// Written into a directory that is renamed into place afterwards, so every path written here
// is the one the directory will have (`home`), not the one it is written at.
import { chmod, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError } from "../errors.ts";
import { LIB_DIR } from "../store/item-layout.ts";
import type { Toolchain } from "../toolchain/detect.ts";
import { manifestJson, MANIFEST_FILE, type ProfileManifest } from "./manifest.ts";
import { environmentScript, toolCommands, wrapperScript } from "./wrappers.ts";


export interface GenerationContents {
  items: readonly { name: string; path: string }[]; // store items of the closure
  toolchain: Toolchain;
  home: string; // the directory's final path: the wrappers name its lib dir
  envHome: string; // what etc/profile names: the profile symlink, or `home` itself
  manifest?: ProfileManifest;
}

export async function writeGeneration(dir: string, c: GenerationContents): Promise<void> {
  const lib = join(dir, LIB_DIR);
  await mkdir(lib, { recursive: true });
  const owner = new Map<string, string>();
  for (const item of c.items) {
    const itemLib = join(item.path, LIB_DIR);
    const entries = await readdir(itemLib).catch(() => {
      throw new BeamixError(`${item.path}: store item of ${item.name} has no ${LIB_DIR} directory`);
    });
    for (const entry of entries) {
      const other = owner.get(entry);
      if (other !== undefined) throw new BeamixError(`${other} and ${item.name} both provide ${LIB_DIR}/${entry}: they cannot share a profile`);
      owner.set(entry, item.name);
      await symlink(join(itemLib, entry), join(lib, entry));
    }
  }

  const bin = join(dir, "bin");
  await mkdir(bin);
  for (const [tool, exec] of await toolCommands(c.toolchain)) {
    const file = join(bin, tool);
    await writeFile(file, wrapperScript({ exec, libDir: join(c.home, LIB_DIR), binDirs: c.toolchain.binDirs }));
    await chmod(file, 0o755);
  }
  await mkdir(join(dir, "etc"));
  await writeFile(join(dir, "etc", "profile"), environmentScript({ binDir: join(c.envHome, "bin"), libDir: join(c.envHome, LIB_DIR) }));
  if (c.manifest) await writeFile(join(dir, MANIFEST_FILE), manifestJson(c.manifest));
}
