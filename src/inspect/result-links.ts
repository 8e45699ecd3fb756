// `beamix build --root PATH`: a symlink at PATH to the built item, registered as an indirect GC
// root (like Nix's ./result): the item lives as long as the link does; removing the link is
// enough to let gc collect it. Several roots get PATH-<package> each.
import { lstat, rename, symlink, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import { BeamixError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { sha256Hex } from "../util/sha256.ts";

export const linkRootName = (link: string) => `link-${sha256Hex(resolve(link)).slice(0, 16)}`;

// Makes (or replaces) the links and their roots; returns the link paths.
export async function addResultLinks(store: Store, path: string, items: readonly { name: string; path: string }[]): Promise<string[]> {
  const links: string[] = [];
  for (const item of items) {
    const link = resolve(items.length === 1 ? path : `${path}-${item.name}`);
    const existing = await lstat(link).catch(() => undefined);
    if (existing && !existing.isSymbolicLink()) throw new BeamixError(`${link}: exists and is not a symlink; not replacing it with a GC root link`);
    const tmp = `${link}.tmp-${process.pid}`;
    await unlink(tmp).catch(() => {});
    await symlink(item.path, tmp);
    await rename(tmp, link);
    await store.addRoot(linkRootName(link), link);
    links.push(link);
  }
  return links;
}
