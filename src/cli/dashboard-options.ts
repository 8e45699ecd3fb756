// `beamix serve`'s dashboard (src/view/dashboard/) from its options: the admin token that may
// upload challenge verdicts, and where verdicts are kept.
import { readFile } from "node:fs/promises";
import { BeamixError, errorMessage } from "../errors.ts";
import type { ServeSource } from "../substitute/server/serve.ts";
import { dashboardRoutes, type PageHandler } from "../view/dashboard/routes.ts";

export async function dashboardFromOptions(source: ServeSource, opts: { adminTokenFile?: string; challengesFile?: string }): Promise<PageHandler> {
  let adminToken: string | undefined;
  if (opts.adminTokenFile !== undefined) {
    adminToken = (
      await readFile(opts.adminTokenFile, "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new BeamixError(`${opts.adminTokenFile}: cannot read the admin token (${err.code ?? errorMessage(err)})`);
      })
    ).trim();
    if (adminToken.length < 16) throw new BeamixError(`${opts.adminTokenFile}: the admin token must be at least 16 characters`);
  }
  return dashboardRoutes({ source, adminToken, challengesFile: opts.challengesFile });
}
