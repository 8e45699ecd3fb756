// Which marker files `mix deps.get` and `mix deps.compile` leave beside a fetchable (Hex or git)
// dependency, and which of them the next `mix compile` reads, by the Mix (Elixir) version where
// that changed. Read from Mix's sources (lib/mix/lib/mix/dep/{loader,fetcher,elixir_scm}.ex,
// tasks/deps.compile.ex, compilers/elixir.ex, tasks/will_recompile.ex) at each tag v1.14.0 ...
// v1.20.3. A dependency whose markers are missing or stale is deleted from _build and compiled
// again by Mix ("recently fetched"), which offline fails for rebar3 and make dependencies.
//
//   deps/APP/.fetch            Mix.Dep.Fetcher touches it after a checkout (1.14-1.16);
//                              Mix.Dep.Loader.recently_fetched? compares its mtime with
//                              compile.fetch's: newer means "recompile".
//   .mix/compile.fetch         deps.compile touches it for every fetchable dependency (1.14-1.18);
//                              from 1.17 recently_fetched? only asks whether it exists.
//   .mix/compile.elixir_scm    Mix.Dep.ElixirSCM: {Vsn, {System.version(), otp_release}, Scm}
//                              (Vsn 1), plus the dependency's mix.lock entry (Vsn 2, 1.20).
//                              Up to 1.18 the Elixir compiler writes it, only for a dependency
//                              with Elixir code; from 1.19 deps.compile writes it for every
//                              fetchable dependency and recently_fetched? asks whether it exists;
//                              from 1.20 a missing one or another lock entry means "recompile".
//                              Every version compares the Elixir/OTP versions and the SCM in it
//                              with its own when it is there (Mix.Dep.check_manifest).
//   .mix/compile.lock          will_recompile touches the project's (not the dependency's) after
//                              deps.compile compiled a fetchable dependency, so that the project
//                              is compiled again against it (every version).
export interface MixDepMarkers {
  since: string; // the Mix version that first left these, "MAJOR.MINOR"
  depsFetch: boolean; // deps/APP/.fetch
  compileFetch: "none" | "exists" | "not-older-than-fetch"; // .mix/compile.fetch and what is checked
  elixirScm: "elixir-code" | "every-fetchable"; // which dependencies get .mix/compile.elixir_scm
  elixirScmVersion: 1 | 2; // 2: with the mix.lock entry
}

// Each row holds from its version until the next row's.
export const MIX_DEP_MARKERS: readonly MixDepMarkers[] = [
  { since: "1.14", depsFetch: true, compileFetch: "not-older-than-fetch", elixirScm: "elixir-code", elixirScmVersion: 1 },
  { since: "1.17", depsFetch: false, compileFetch: "exists", elixirScm: "elixir-code", elixirScmVersion: 1 },
  { since: "1.19", depsFetch: false, compileFetch: "none", elixirScm: "every-fetchable", elixirScmVersion: 1 },
  { since: "1.20", depsFetch: false, compileFetch: "none", elixirScm: "every-fetchable", elixirScmVersion: 2 },
];

function majorMinor(version: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)(?:[.-]|$)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

const atLeast = (v: [number, number], since: [number, number]) => v[0] > since[0] || (v[0] === since[0] && v[1] >= since[1]);

// The markers of the Mix in Elixir `elixirVersion` (System.version/0, e.g. "1.18.3" or
// "1.19.0-rc.1"). Versions before the first row are read as the first row (Mix 1.13 leaves the
// same files as 1.14); versions after the last as the last.
export function mixDepMarkers(elixirVersion: string): MixDepMarkers {
  const v = majorMinor(elixirVersion);
  if (v === null) throw new Error(`not an Elixir version: ${JSON.stringify(elixirVersion)}`);
  let found = MIX_DEP_MARKERS[0];
  for (const row of MIX_DEP_MARKERS) if (atLeast(v, majorMinor(row.since)!)) found = row;
  return found;
}
