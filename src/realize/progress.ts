// What the realize engine tells about its progress; showing it to people is the CLI's part
// (src/cli/progress-display.ts), recording it the timeline's.

// One model for every command. A package is asked of the caches ("substitute"), waits for a
// build slot ("queued"), builds ("start"), then is "done" or "failed". `ms` times only the work
// (the download or the build), never the wait; `queuedMs` is the wait for a build slot.
export type ProgressEvent =
  | { type: "queued"; label: string }
  | { type: "start"; label: string }
  | { type: "substitute"; label: string }
  | { type: "done"; label: string; result: "built" | "present" | "substituted"; ms: number; queuedMs?: number }
  | { type: "failed"; label: string; message: string }
  | { type: "warning"; message: string }; // one line, e.g. a rejected substitute; nothing finished

export interface Progress {
  total(n: number): void;
  event(e: ProgressEvent): void;
  finish(): void;
}

export function quietProgress(): Progress {
  return { total() {}, event() {}, finish() {} };
}

// Progress for nobody, except warnings, which must reach a person whatever the display.
export function warningsOnlyProgress(write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Progress {
  return { total() {}, event: (e) => e.type === "warning" && write(e.message), finish() {} };
}
