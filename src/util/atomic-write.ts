// Nothing half-done is visible: write to a temporary name beside the target, then rename.
import { writeFile, rename, rm } from "node:fs/promises";

export async function writeFileAtomic(path: string, data: Buffer | string, mode?: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, data, mode === undefined ? undefined : { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
