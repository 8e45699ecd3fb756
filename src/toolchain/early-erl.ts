// erl asked for the Erlang facts before detection asks (issue 17): on a machine whose toolchain
// cache has no answer, `beamix deps` starts it before its CLI loads (src/cli/early-toolchain.ts),
// so that the answer is there when derivation identities need it. Detection takes it only for
// the erl it would run itself, in the environment it would run it in: the same question, so the
// same answer (ask.ts). Until taken, nothing waits for it: it does not keep Node running, and it
// is killed when beamix exits.
import type { DetectOptions } from "./locate.ts";
import { lookUpToolchain } from "./cache.ts";
import { askErl, toolEnv, type Asking } from "./ask.ts";

let early: (Asking & { erl: string; env: string }) | undefined;

// What erl is run with: a detection run in another environment asks another question.
const envKey = () => JSON.stringify(toolEnv());

// Starts erl for the toolchain `opts` names, unless the cache knows that toolchain: a warm
// machine starts no VM. Synchronous, so that nothing queued behind the loading of modules delays it.
export function startEarlyErl(opts: DetectOptions): void {
  if (early) return;
  try {
    const { loc, hit } = lookUpToolchain(opts);
    if (hit) return;
    const asking = askErl(loc.erl);
    asking.output.catch(() => {}); // a failure is detection's to report, if it takes this
    holdOpen(asking, false);
    process.once("exit", () => asking.child.kill("SIGKILL")); // it only prints facts
    early = { ...asking, erl: loc.erl, env: envKey() };
  } catch {
    // no usable toolchain: detection says so
  }
}

// erl's answer, when it was started early for this erl in this environment; the process is then
// waited for like any other.
export function takeEarlyErl(erl: string): Promise<string> | undefined {
  if (!early || early.erl !== erl || early.env !== envKey()) return undefined;
  const taken = early;
  early = undefined;
  holdOpen(taken, true);
  return taken.output;
}

// Whether the process and its pipes keep Node running.
function holdOpen({ child }: Asking, hold: boolean): void {
  for (const handle of [child, child.stdin, child.stdout, child.stderr] as ({ ref?(): void; unref?(): void } | null)[]) {
    if (hold) handle?.ref?.();
    else handle?.unref?.();
  }
}
