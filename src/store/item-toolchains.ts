// The toolchains a store's items were built with, as their derivations recorded them (the facts
// derivation hashes cover, never paths): for `beamix toolchain list`. Substituted items count
// under the toolchain of the derivation their builder recorded.
import type { StoreItem } from "./store-core.ts";
import type { ToolchainSummary } from "../derivation/derivation.ts";

export interface ItemToolchain {
  otpVersion: string;
  ertsVersion: string;
  elixirVersions: string[]; // of the items whose build ran Elixir
  rebar3Versions: string[];
  items: number;
}

export function itemToolchains(items: readonly StoreItem[]): ItemToolchain[] {
  const byOtp = new Map<string, ItemToolchain>();
  for (const item of items) {
    const tc = (item.deriver as { derivation?: { toolchain?: ToolchainSummary } } | null)?.derivation?.toolchain;
    if (!tc || typeof tc.otpVersion !== "string") continue;
    const key = `${tc.otpVersion} ${tc.ertsVersion}`;
    let entry = byOtp.get(key);
    if (!entry) {
      entry = { otpVersion: tc.otpVersion, ertsVersion: tc.ertsVersion, elixirVersions: [], rebar3Versions: [], items: 0 };
      byOtp.set(key, entry);
    }
    entry.items++;
    if (tc.elixirVersion && !entry.elixirVersions.includes(tc.elixirVersion)) entry.elixirVersions.push(tc.elixirVersion);
    if (tc.rebar3Version && !entry.rebar3Versions.includes(tc.rebar3Version)) entry.rebar3Versions.push(tc.rebar3Version);
  }
  const out = [...byOtp.values()];
  for (const e of out) {
    e.elixirVersions.sort();
    e.rebar3Versions.sort();
  }
  return out.sort((a, b) => (a.otpVersion < b.otpVersion ? -1 : a.otpVersion > b.otpVersion ? 1 : 0));
}
