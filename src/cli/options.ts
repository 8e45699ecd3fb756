// Numeric command-line options, read as the command line is parsed (commander's argParser), so
// that a wrong value is a usage error (exit 2, one line) whether or not the command would get to
// use it: `--require-sigs ''` must not quietly become 0, nor `--require-sigs two` pass unnoticed
// because no cache happens to be configured. Parsers throw UsageError rather than commander's
// InvalidArgumentError, whose message commander follows with a second line of help.
import { UsageError } from "../errors.ts";

// Node's timers take at most 2^31-1 ms; a longer delay fires at once, so more is refused.
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function range(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER) return min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer of at least ${min}`;
  return `an integer from ${min} to ${max}`;
}

/** A whole number in [min, max], in decimal digits only (no sign, fraction, exponent or blanks). */
export function integerOption(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
    if (!(n >= min && n <= max)) throw new UsageError(`${flag} must be ${range(min, max)}, not ${JSON.stringify(text)}`);
    return n;
  };
}

export const portOption = integerOption("--port", 0, 65_535);
// The priorities beamix-cache-info allows (src/substitute/format/cache-info.ts).
export const priorityOption = integerOption("--priority", 0, 999_999);

/** A positive number of seconds (fractions allowed, as 0.5), at most MAX_SECONDS. */
export function secondsOption(flag: string): (text: string) => number {
  return (text) => {
    const s = /^[0-9]{1,10}(\.[0-9]{1,9})?$/.test(text) ? Number(text) : NaN;
    if (!(s > 0 && s <= MAX_SECONDS)) throw new UsageError(`${flag} must be a positive number of seconds up to ${MAX_SECONDS}, not ${JSON.stringify(text)}`);
    return s;
  };
}
