// The environment of one simulated machine under a test's work directory: its own beamix cache,
// data and an empty config (no trusted keys, no substituters unless given on the command line),
// and nothing from the developer's Hex or Mix set-up.
import { join } from "node:path";

export function machineEnv(work: string, machine: string): NodeJS.ProcessEnv {
  return {
    BEAMIX_CACHE_DIR: join(work, "machines", machine, "cache"),
    BEAMIX_CONFIG_DIR: join(work, "machines", machine, "config"),
    BEAMIX_DATA_DIR: join(work, "machines", machine, "data"),
    HEX_MIRROR: "",
    HEX_MIRROR_URL: "",
    MIX_ENV: "",
    ERL_LIBS: "",
  };
}
