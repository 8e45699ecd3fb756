// Errors a user can act on. The CLI prints `beamix: <message>` on one line and exits 1;
// anything else that escapes is a bug and gets a stack trace.
export class BeamixError extends Error {
  override name = "BeamixError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// Wrong command-line usage: exit code 2.
export class UsageError extends BeamixError {
  override name = "UsageError";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
