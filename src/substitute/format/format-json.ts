// The JSON files of a cache beside its records (compile-env hints, Mix's answers): one object
// whose "format" names what it is. Read from caches, so anything else is one line naming where
// it came from.
import { BeamixError } from "../../errors.ts";

// The object in `text`, when its format is `format`; a BeamixError naming `origin` otherwise.
export function parseFormatJson(text: string, origin: string, format: string): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    throw new BeamixError(`${origin}: not JSON`);
  }
  const o = x as Record<string, unknown>;
  if (typeof o !== "object" || o === null || o.format !== format) throw new BeamixError(`${origin}: not a ${format} file`);
  return o;
}
