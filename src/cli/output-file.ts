// Files a command writes at the user's request (a page, a graph): written whole or not at all,
// and a path that cannot be written is one line naming it, checked before the work that fills it.
import { access, constants } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";

const why = (err: unknown) => (err as NodeJS.ErrnoException).code ?? errorMessage(err);

// Before a build: the directory the file goes to must exist and be writable.
export async function checkOutputPath(path: string, option: string): Promise<void> {
  const dir = dirname(resolve(path));
  await access(dir, constants.W_OK).catch((err: unknown) => {
    throw new BeamixError(`${option} ${path}: cannot write in ${dir} (${why(err)})`);
  });
}

export async function writeOutputFile(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text).catch((err: unknown) => {
    throw new BeamixError(`cannot write ${path} (${why(err)})`);
  });
}
