// Build progress for people: a live display on a terminal (log-update redraws the running builds
// in place), plain lines otherwise (CI logs, pipes). Goes to stderr so stdout stays parseable.
import type { createLogUpdate } from "log-update";
import type { Progress } from "../realize/progress.ts";

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function plainProgress(write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Progress {
  return {
    total() {},
    event(e) {
      if (e.type === "start") write(`building ${e.label}`);
      else if (e.type === "substitute") write(`substituting ${e.label}`);
      else if (e.type === "done" && e.result !== "present") write(`${e.result} ${e.label} in ${secs(e.ms)}`);
      else if (e.type === "failed") write(`failed ${e.label}: ${e.message}`);
      else if (e.type === "warning") write(e.message);
    },
    finish() {},
  };
}

export function liveProgress(render: ReturnType<typeof createLogUpdate>, stream: NodeJS.WriteStream = process.stderr): Progress {
  const running = new Map<string, { since: number; what: "queued" | "building" | "substituting" }>();
  let total = 0;
  let finished = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    const now = Date.now();
    const lines = [`[${finished}/${total}]`];
    // Working packages first, then those waiting for a build slot (no clock: nothing to time).
    for (const [label, { since, what }] of running) if (what !== "queued") lines.push(`  ${what} ${label}  ${secs(now - since)}`);
    const queued = [...running].filter(([, r]) => r.what === "queued").map(([label]) => label);
    if (queued.length) lines.push(`  queued: ${queued.join(", ")}`);
    render(lines.join("\n"));
  };
  return {
    total(n) {
      total = n;
      timer ??= setInterval(draw, 200).unref();
    },
    event(e) {
      if (e.type === "start" || e.type === "substitute" || e.type === "queued") {
        running.set(e.label, { since: Date.now(), what: e.type === "start" ? "building" : e.type === "queued" ? "queued" : "substituting" });
      }
      else if (e.type === "warning") {
        render.clear();
        stream.write(`${e.message}\n`);
      } else {
        running.delete(e.label);
        finished++;
        if (e.type === "failed") {
          render.clear();
          stream.write(`failed ${e.label}: ${e.message}\n`);
        } else if (e.result !== "present") {
          render.clear();
          stream.write(`${e.result} ${e.label} in ${secs(e.ms)}\n`);
        }
      }
      draw();
    },
    finish() {
      if (timer) clearInterval(timer);
      render.clear();
      render.done();
    },
  };
}

export async function defaultProgress(): Promise<Progress> {
  if (!process.stderr.isTTY) return plainProgress();
  // Loaded only for a terminal: log-update's dependencies cost ~25 ms at start-up.
  const { createLogUpdate } = await import("log-update");
  return liveProgress(createLogUpdate(process.stderr), process.stderr);
}
