// A build's timeline: what each package did when, recorded from the realize engine's progress
// events (queued, substitute, start, done, failed) as they happen, with each build's phases
// from the phase times its log ends with (src/builder/build-package.ts). Rendered by
// timeline-page.ts.
import type { Progress, ProgressEvent } from "../realize/progress.ts";
import type { Store } from "../store/store.ts";

export type SpanKind = "queued" | "substitute" | "build" | "phase" | "register" | "failed";

export interface Span {
  kind: SpanKind;
  label: string; // the phase's name for "phase", else the kind said in words
  start: number; // ms since the run started
  end: number;
}

export interface TimelineRow {
  label: string; // "<name> <version>"
  result: "built" | "substituted" | "present" | "failed" | "unfinished";
  spans: Span[];
}

export interface Timeline {
  title: string;
  startedAt: string; // ISO time
  durationMs: number;
  rows: TimelineRow[]; // in the order packages started
}

interface Open {
  row: TimelineRow;
  queuedAt?: number;
  workAt?: number;
  work?: "substitute" | "build";
}

// A build's phase times as its log states them: `beamix: phase times: unpack 0.012 s, …` and
// `beamix: built … in 1.2 s`.
export function phaseTimes(log: string): { phases: { name: string; ms: number }[]; buildMs?: number } {
  const line = /^beamix: phase times: (.*)$/m.exec(log)?.[1];
  const phases = (line ?? "")
    .split(", ")
    .map((part) => /^(.+) (\d+(?:\.\d+)?) s$/.exec(part))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], ms: Number(m[2]) * 1000 }));
  const built = /^beamix: built .* in (\d+(?:\.\d+)?) s$/m.exec(log)?.[1];
  return { phases, ...(built ? { buildMs: Number(built) * 1000 } : {}) };
}

export class TimelineRecorder {
  private readonly t0 = performance.now();
  private readonly startedAt = new Date().toISOString();
  private readonly open = new Map<string, Open>();
  private readonly rows: TimelineRow[] = [];

  private now(): number {
    return performance.now() - this.t0;
  }

  private entry(label: string): Open {
    let o = this.open.get(label);
    if (!o) {
      o = { row: { label, result: "unfinished", spans: [] } };
      this.open.set(label, o);
      this.rows.push(o.row);
    }
    return o;
  }

  record(e: ProgressEvent): void {
    if (e.type === "warning") return;
    const at = this.now();
    const o = this.entry(e.label);
    if (e.type === "queued") o.queuedAt = at;
    else if (e.type === "start" || e.type === "substitute") {
      if (o.queuedAt !== undefined) o.row.spans.push({ kind: "queued", label: "waiting for a build slot", start: o.queuedAt, end: at });
      o.queuedAt = undefined;
      o.workAt = at;
      o.work = e.type === "start" ? "build" : "substitute";
    } else if (e.type === "failed") {
      o.row.spans.push({ kind: "failed", label: `failed: ${e.message}`, start: o.workAt ?? at, end: at });
      o.row.result = "failed";
    } else {
      o.row.result = e.result;
      if (o.work === "substitute" && e.result === "substituted") o.row.spans.push({ kind: "substitute", label: "download, check and register", start: o.workAt!, end: at });
      else if (o.work === "build" && e.result === "built") o.row.spans.push({ kind: "build", label: "build", start: o.workAt!, end: at });
      else if (o.work === "substitute" && e.result === "built") o.row.spans.push({ kind: "substitute", label: "asking caches", start: o.workAt!, end: at });
    }
  }

  wrap(inner: Progress): Progress {
    return {
      total: (n) => inner.total(n),
      event: (e) => {
        this.record(e);
        inner.event(e);
      },
      finish: () => inner.finish(),
    };
  }

  // The timeline, with each built package's build span split into its phases and registration
  // (from its stored log, found by derivation hash).
  async finish(title: string, store: Store, items: readonly { name: string; version: string; drvHash: string; status: string }[]): Promise<Timeline> {
    for (const item of items.filter((i) => i.status === "built")) {
      const row = this.rows.find((r) => r.label === `${item.name} ${item.version}`);
      const build = row?.spans.find((s) => s.kind === "build");
      const log = build && (await store.readLog(item.drvHash));
      if (!row || !build || log === undefined) continue;
      const { phases, buildMs } = phaseTimes(log);
      let at = build.start;
      for (const p of phases) {
        row.spans.push({ kind: "phase", label: p.name, start: at, end: Math.min(at + p.ms, build.end) });
        at += p.ms;
      }
      if (buildMs !== undefined && build.start + buildMs < build.end) row.spans.push({ kind: "register", label: "register in the store", start: build.start + buildMs, end: build.end });
    }
    return { title, startedAt: this.startedAt, durationMs: this.now(), rows: this.rows };
  }
}
