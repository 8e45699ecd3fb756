// Every entry under root/sub as "type mode size sha256" (files), "d mode" (directories, keyed with a
// trailing slash) or "l target" (links), as the Hex vectors' listings show them: two trees are
// the same to Mix when their listings are equal.
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

export async function treeListing(root: string, sub: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const mode = (st.mode & 0o777).toString(8);
      if (st.isSymbolicLink()) out.set(path, `l ${await readlink(join(root, path))}`);
      else if (st.isDirectory()) {
        out.set(`${path}/`, `d ${mode}`);
        await walk(path);
      } else out.set(path, `f ${mode} ${st.size} ${createHash("sha256").update(await readFile(join(root, path))).digest("hex")}`);
    }
  };
  await walk(sub);
  return out;
}
