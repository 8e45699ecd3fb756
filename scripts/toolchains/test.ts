// `npm run test:toolchains`: the end-to-end suites of `beamix deps`, `install` and `build` on a
// modern toolchain, Erlang/OTP 27 and Elixir 1.18 built from Debian trixie's sources (build.ts;
// built once, then reused). The suites run with BEAMIX_TOOLCHAIN naming it and its bin/ first on
// PATH, so that the Mix they run by hand is that toolchain's too; two-toolchains.test.ts builds
// with it and with the toolchain on the system's PATH. Plain `npm test` stays on the system's.
//
//   node scripts/toolchains/test.ts [TEST FILE...]     (default: the suites below)
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureToolchain } from "./build.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const SUITES = [
  "test/deps-e2e.test.ts",
  "test/deps-checkout-restore.test.ts",
  "test/deps-replay.test.ts",
  "test/deps-mix-answers.test.ts",
  "test/deps-substitute.test.ts",
  "test/install-e2e.test.ts",
  "test/build-e2e.test.ts",
  "test/profile-wrappers-toolchain.test.ts",
  "scripts/toolchains/two-toolchains.test.ts",
];

const toolchain = ensureToolchain();
process.stderr.write(`toolchains: testing with ${toolchain}\n`);
const files = process.argv.slice(2);
const env = {
  ...process.env,
  BEAMIX_TOOLCHAIN: toolchain,
  BEAMIX_SYSTEM_PATH: process.env.PATH ?? "", // the toolchain two-toolchains.test.ts compares with
  PATH: `${join(toolchain, "bin")}${delimiter}${process.env.PATH ?? ""}`,
};
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", "--test-reporter=spec", ...(files.length > 0 ? files : SUITES)], { cwd: ROOT, env, stdio: "inherit" });
process.exit(r.status ?? 1);
