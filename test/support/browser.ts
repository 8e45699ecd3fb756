// Headless Chromium for tests that look at pages as a person does: Debian's chromium (setup.sh
// installs it), driven by playwright-core. A missing browser fails the test: CI's set-up
// installs it, so its absence is a broken set-up, not a reason to skip.
import { execFileSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

export function chromiumPath(): string {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error("no chromium on PATH: run ./setup.sh (it installs Debian's chromium)");
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // No sandbox (containers and CI runners lack the namespaces it needs), no GPU, and none of the
    // browser's own traffic (updates, safe browsing, metrics): only the pages under test.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--metrics-recording-only"],
  });
}
