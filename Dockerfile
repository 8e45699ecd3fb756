# beamix in a container: the published form (what `npm pack` makes) on the Erlang/OTP, Elixir 1.18
# and rebar3 of the official elixir:1.18 image, run with Node 24. See "In a container" in README.md.
#
#   docker build -t beamix .
#   docker run --rm -v "$PWD:/work" -w /work beamix deps --no-sandbox --substituters https://cache.example
#   docker run --rm -p 8080:8080 -v beamix-cache:/cache beamix serve --cache /cache --host 0.0.0.0 --port 8080

# The package, built and packed from this checkout (npm pack runs scripts/build.ts).
FROM node:24-bookworm-slim AS pack
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/ scripts/
RUN npm ci --no-audit --no-fund --loglevel=error
COPY bin/ bin/
COPY priv/ priv/
COPY src/ src/
COPY README.md ./
RUN npm pack --pack-destination /tmp && mkdir /opt/beamix && tar -xzf /tmp/beamix-*.tgz -C /opt/beamix --strip-components=1

FROM elixir:1.18
# bubblewrap for the build sandbox (it needs user namespaces: see README), git for git
# dependencies, a C toolchain and patch for packages with native code or patches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap git make gcc libc6-dev patch \
 && rm -rf /var/lib/apt/lists/*
COPY --from=pack /usr/local/bin/node /usr/local/bin/node
COPY --from=pack /opt/beamix /opt/beamix
RUN ln -s /opt/beamix/bin/beamix.js /usr/local/bin/beamix \
 && useradd --create-home --uid 1000 beamix
USER beamix
WORKDIR /home/beamix
# The store, profiles and caches live in the home directory: mount a volume there to keep them.
ENTRYPOINT ["beamix"]
CMD ["--help"]
