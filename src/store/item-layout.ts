// What a store item holds: one OTP application laid out as in an Erlang installation,
//   <item>/lib/erlang/lib/<app>-<version>/{ebin,priv,include,...}
// so that a profile, ERL_LIBS, `deps` and a build's inputs all find it the same way. Builds
// install there; everything that reads an item asks here where to look.
import { join } from "node:path";

// The library directory of an item (and of a profile, which links items' applications into one).
export const LIB_DIR = join("lib", "erlang", "lib");

// <root>/lib/erlang/lib/<app>-<version>: the application directory of an item or an install.
export const appLibDir = (root: string, app: string, version: string): string => join(root, LIB_DIR, `${app}-${version}`);
