// The definition beamix uses for a Hex release when no definition file overrides it: the
// build system Mix would choose from its metadata, its dependencies as the registry lists them.
import { BeamixError } from "../errors.ts";
import type { HexMetadata } from "../hex/metadata.ts";
import { buildSystemOfHexRelease } from "../build-system/registry.ts";
import type { Definition } from "./definition.ts";
import { validateDefinition } from "./definition-validate.ts";

export interface HexReleaseInfo {
  repo: string; // the repository the release was resolved from
  url?: string; // where the tarball is fetched, when not the repository's default
  innerChecksum: string | Buffer;
  outerChecksum?: string | Buffer;
  // The registry's dependency list for the release. When given it wins over the metadata's
  // requirements: it says in which repository each dependency lives.
  dependencies?: readonly { package: string; app: string; optional: boolean; repository: string }[];
}

const hex = (c: string | Buffer): string => (typeof c === "string" ? c.toLowerCase() : c.toString("hex"));

export function definitionFromHexRelease(metadata: HexMetadata, release: HexReleaseInfo): Definition {
  const where = `${metadata.name} ${metadata.version}`;
  const buildSystem = buildSystemOfHexRelease(metadata.buildTools, metadata.files);
  if (!buildSystem) {
    throw new BeamixError(
      `${where}: cannot tell how to build it: build_tools is ${JSON.stringify(metadata.buildTools)} and the package has no mix.exs, rebar.config or Makefile; write a definition file`,
    );
  }
  const deps = release.dependencies
    ? release.dependencies.map((d) => ({ name: d.package, app: d.app, optional: d.optional, repo: d.repository }))
    : metadata.requirements.map((r) => ({ name: r.name, app: r.app, optional: r.optional, repo: r.repository }));
  const source: Record<string, unknown> = { type: "hex", repo: release.repo, innerChecksum: hex(release.innerChecksum) };
  if (release.url !== undefined) source.url = release.url;
  if (release.outerChecksum !== undefined) source.outerChecksum = hex(release.outerChecksum);
  return validateDefinition(
    { name: metadata.name, version: metadata.version, app: metadata.app, source, buildSystem, inputs: deps },
    `Hex metadata of ${where}`,
  );
}
