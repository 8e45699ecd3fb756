// What the disk and the database say when the store cannot be written or read, as one line a
// user can act on. A full disk, a read-only mount, a file where a directory should be or a
// damaged database is not a bug in beamix: it must not end in a stack trace. Errors not listed
// here are left as they are (they are bugs, and keep their stack).
import { statfsSync } from "node:fs";
import { BeamixError } from "../errors.ts";

// Errno codes of conditions outside beamix, and how to say them.
const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EIO: "input/output error",
  ENOTDIR: "a part of the path is not a directory",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
};

// SQLite primary result codes (the low byte of node:sqlite's errcode) that are conditions.
const SQLITE_TEXT: Record<number, string> = {
  5: "the database is locked by another process for too long",
  8: "the database is read-only",
  10: "disk I/O error",
  11: "the database file is damaged",
  13: "database or disk is full",
  14: "the database file cannot be opened",
  26: "the file is not a beamix store database (damaged, or something else)",
};

interface SqliteError {
  code: "ERR_SQLITE_ERROR";
  errcode: number;
  errstr?: string;
}

export function isSqliteError(err: unknown): err is SqliteError {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ERR_SQLITE_ERROR" && typeof (err as { errcode?: unknown }).errcode === "number";
}

export const sqliteCode = (err: SqliteError): number => err.errcode & 0xff;

// Little room left on the file system of `dir`, said as a hint after an I/O error (SQLite reports
// a full disk while growing its shared-memory file as a plain I/O error).
function nearlyFull(dir: string | undefined): boolean {
  if (dir === undefined) return false;
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < 256 * 1024;
  } catch {
    return false;
  }
}

// The one-line reason for an error of the disk or the database, or undefined when it is neither.
export function conditionText(err: unknown, dir?: string): string | undefined {
  if (isSqliteError(err)) {
    const code = sqliteCode(err);
    const text = SQLITE_TEXT[code];
    if (text === undefined) return undefined;
    return (code === 10 || code === 14) && nearlyFull(dir) ? `${text} (the disk is full)` : text;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string" || !(code in ERRNO_TEXT)) return undefined;
  const path = (err as NodeJS.ErrnoException).path;
  return path ? `${ERRNO_TEXT[code]} (${path})` : ERRNO_TEXT[code];
}

// `what: reason` as a BeamixError when err is a condition of the disk or the database; beamix's
// own errors pass unchanged, and anything else is returned as it is.
export function storeError(err: unknown, what: string, dir?: string): unknown {
  if (err instanceof BeamixError) return err;
  const text = conditionText(err, dir);
  return text === undefined ? err : new BeamixError(`${what}: ${text}`, { cause: err });
}

// Runs fn, turning conditions of the disk and the database into one-line errors.
export async function guard<T>(what: string, dir: string | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeError(err, what, dir);
  }
}

export function guardSync<T>(what: string, dir: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storeError(err, what, dir);
  }
}
