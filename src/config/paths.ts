// Where beamix keeps things by default, following the XDG base directory spec.
import { homedir } from "node:os";
import { join } from "node:path";

const home = () => process.env.HOME || homedir();

export function cacheDir(): string {
  return process.env.BEAMIX_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(home(), ".cache"), "beamix");
}

export function dataDir(): string {
  return process.env.BEAMIX_DATA_DIR || join(process.env.XDG_DATA_HOME || join(home(), ".local", "share"), "beamix");
}
