// Nothing half-done is visible: write to a temporary name beside the target, then rename.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { writeFile, rename, rm } from "node:fs/promises";

// The temporary name beside the target: this process's, never another's.
const tmpBeside = (path: string): string => `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;

export async function writeFileAtomic(path: string, data: Buffer | string, mode?: number): Promise<void> {
  const tmp = tmpBeside(path);
  try {
    await writeFile(tmp, data, mode === undefined ? undefined : { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

// The same, blocking: for small files written where waiting on the thread pool costs more than
// the write (the answers given before the CLI loads).
export function writeFileAtomicSync(path: string, data: Buffer | string, mode?: number): void {
  const tmp = tmpBeside(path);
  try {
    writeFileSync(tmp, data, mode === undefined ? undefined : { mode });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
