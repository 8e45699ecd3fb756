// Output helpers shared by commands: human text on stdout, or JSON with --json.
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printLines(lines: string[]): void {
  if (lines.length) process.stdout.write(lines.join("\n") + "\n");
}
