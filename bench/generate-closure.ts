// A deterministic synthetic closure with the shape and size of the Phoenix 1.7 closure (see
// DESIGN.md "Facts"): 17 packages with original names, the same dependency graph, similar
// module counts and a comparable amount of code, in the three build systems (mix, rebar3,
// erlang.mk-style make). Each package directory is a valid Hex package that beamix can pack;
// a consumer Mix project (like a Phoenix application) depends on the top of the closure.
//
// The code is generated (bench/gen/): multi-clause functions, macros and `use`, behaviours,
// protocols with implementations, Application.compile_env, modules compiled only when an
// optional dependency is loadable, big compile-time tables, EEx templates, binary parsers
// with guard macros, gen_servers. `scale` multiplies the number of generated functions and
// is how the corpus was tuned to compile in about the time the real closure takes.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as X from "./gen/elixir.ts";
import type { ExCallee, ExModule, FnSize } from "./gen/elixir.ts";
import { caBundle, castoreCore, htmlCore, jsonCore, mimeModule, pubsubCore, statusModule, templateCore, websockAdapterCore, websockAdapterOptional, websockBehaviour } from "./gen/elixir-libs.ts";
import { phxController, phxEndpoint, phxRoute, phxRouter, phxSocket } from "./gen/elixir-phoenix.ts";
import { builderUser, plugBehaviour, plugBuilder, plugConn, plugModule, plugRouter, plugRouterUtils, routerUser } from "./gen/elixir-plug.ts";
import * as E from "./gen/erlang.ts";
import type { ErlCallee, ErlModule, RecordDef } from "./gen/erlang.ts";
import { cowboyMain, ranchModules, telemetryHeader, telemetryModules } from "./gen/erlang-core.ts";
import { NameScope, Rng } from "./gen/rng.ts";
import { NOUNS, VERBS, camel, wrap } from "./gen/words.ts";

export type BuildTool = "mix" | "rebar3" | "make";

export interface GeneratedDep {
  package: string;
  requirement: string;
  optional: boolean;
}

export interface GeneratedPackage {
  name: string; // Hex package name = OTP application name
  version: string;
  build: BuildTool;
  dir: string; // absolute
  deps: GeneratedDep[];
  modules: number; // modules the package defines (protocol implementations included)
  sourceLines: number;
}

export interface GeneratedClosure {
  root: string;
  packages: GeneratedPackage[]; // in dependency order
  consumer: { name: string; dir: string; deps: GeneratedDep[] };
  modules: number;
  sourceLines: number;
}

export interface GenerateOptions {
  seed?: number;
  scale?: number;
}

// Tuned so that `MIX_ENV=prod mix deps.compile` of the closure takes about as long as the
// real Phoenix closure's (~16 s on 2 cores); see bench/README.md.
export const DEFAULT_SCALE = 0.65;
export const DEFAULT_SEED = 1714;

const LICENSE = `Copyright beamix contributors

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
`;

interface PkgDef {
  name: string;
  version: string;
  build: BuildTool;
  description: string;
  deps: GeneratedDep[];
  files: Map<string, string>;
  modules: number;
}

// What packages built earlier offer to the ones that depend on them.
interface Api {
  ex: Map<string, ExCallee[]>;
  erl: Map<string, ErlCallee[]>;
  erlBehaviours: Map<string, string[]>; // behaviour module -> callbacks
}

class Gen {
  readonly api: Api = { ex: new Map(), erl: new Map(), erlBehaviours: new Map() };
  private readonly root: Rng;
  readonly scale: number;

  constructor(seed: number, scale: number) {
    this.root = new Rng(seed);
    this.scale = scale;
  }

  rng(pkg: string): Rng {
    return this.root.fork(pkg);
  }

  // Number of generated functions for a module, scaled.
  fns(r: Rng, lo: number, hi: number): number {
    return Math.max(1, Math.round(r.int(lo, hi) * this.scale));
  }

  exCallees(pkgs: string[]): ExCallee[] {
    return pkgs.flatMap((p) => this.api.ex.get(p) ?? []);
  }

  erlCallees(pkgs: string[]): ErlCallee[] {
    return pkgs.flatMap((p) => this.api.erl.get(p) ?? []);
  }
}

const SIZE_EX: FnSize = { clauses: 4, steps: [2, 5] };
const SIZE_ERL: E.FnSize = { clauses: 4, steps: [2, 5] };

// Unique module names under a prefix: GenPlug.Header, GenPlug.Header.Frame, ...
function moduleNames(r: Rng, prefix: string, n: number, scope: NameScope): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const parts = r.chance(0.45) ? [camel(r.pick(NOUNS)), camel(r.pick(NOUNS))] : [camel(r.pick(NOUNS))];
    const name = `${prefix}.${parts.join(".")}`;
    if (scope.has(name)) continue;
    scope.take(name);
    out.push(name);
  }
  return out;
}

function erlNames(r: Rng, prefix: string, n: number, scope: NameScope): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const name = `${prefix}_${r.pick(NOUNS)}${r.chance(0.3) ? `_${r.pick(NOUNS)}` : ""}`;
    if (scope.has(name)) continue;
    scope.take(name);
    out.push(name);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Package file writers

function readme(name: string, version: string, build: BuildTool, description: string, shape: string): string {
  return `# ${name} ${version}

${description}.

Generated by beamix's benchmark generator (bench/generate-closure.ts); not a real Hex
package. It has the shape of ${shape} in the Phoenix closure and is built with ${build}.
`;
}

function mixExs(def: PkgDef, mod: string, application: string): string {
  const deps = def.deps.map((d) => `      {:${d.package}, "${d.requirement}"${d.optional ? ", optional: true" : ""}}`);
  return `defmodule ${mod}.MixProject do
  use Mix.Project

  @version "${def.version}"

  def project do
    [
      app: :${def.name},
      version: @version,
      elixir: "~> 1.14",
      description: "${def.description}",
      deps: deps(),
      package: package()
    ]
  end

  def application do
    ${application}
  end

  defp deps do
    [
${deps.join(",\n")}
    ]
  end

  defp package do
    [
      licenses: ["Apache-2.0"],
      links: %{"Source" => "https://example.invalid/beamix/bench/${def.name}"}
    ]
  end
end
`;
}

function appSrc(app: string, fields: { description: string; vsn: string; registered: string[]; mod: string | null; applications: string[] }): string {
  return `{application, ${app},
 [{description, "${fields.description}"},
  {vsn, "${fields.vsn}"},
  {registered, [${fields.registered.join(", ")}]},
${fields.mod === null ? "" : `  {mod, {${fields.mod}, []}},\n`}  {applications, [${fields.applications.join(", ")}]},
  {env, []},
  {modules, []},
  {licenses, ["Apache-2.0"]},
  {links, [{"Source", "https://example.invalid/beamix/bench/${app}"}]}
 ]}.
`;
}

// An erlang.mk-style Makefile with the interface of the fixtures' (test/fixtures/packages/
// wirecodec-1.0.0): `ebin/$(PROJECT).app` is the one target (equal timestamps make plain
// `make` a no-op), the .app lists kernel, stdlib, $(LOCAL_DEPS) and $(DEPS), dependencies are
// found through ERL_LIBS and never fetched, and command-line DEPS=/LOCAL_DEPS= replace the
// lists. COMPILE_FIRST modules (behaviours) are compiled before the others, as erlang.mk does.
function makefile(project: string, description: string, version: string, localDeps: string[], deps: { name: string; version: string }[], compileFirst: string[]): string {
  return `# Generated by beamix's benchmark generator. A hand-written build in the style of
# erlang.mk: no erlang.mk download, no dependency fetching (dependencies must be on
# ERL_LIBS). \`make\` builds ebin/ and ebin/$(PROJECT).app; a command-line DEPS=... or
# LOCAL_DEPS=... replaces the lists below, and the .app then lists only what was given.

PROJECT = ${project}
PROJECT_DESCRIPTION = ${description}
PROJECT_VERSION = ${version}

LOCAL_DEPS = ${localDeps.join(" ")}
DEPS = ${deps.map((d) => d.name).join(" ")}
${deps.map((d) => `dep_${d.name} = hex ${d.version}`).join("\n")}

COMPILE_FIRST = ${compileFirst.join(" ")}

ERL ?= erl
ERLC ?= erlc
ERLC_OPTS ?= -Werror +debug_info +warn_export_vars +warn_shadow_vars +warn_obsolete_guard

SOURCES := $(sort $(wildcard src/*.erl))
HEADERS := $(sort $(wildcard include/*.hrl))
MODULES := $(patsubst src/%.erl,%,$(SOURCES))
FIRST := $(patsubst %,src/%.erl,$(COMPILE_FIRST))
REST := $(filter-out $(FIRST),$(SOURCES))

# Writes ebin/$(PROJECT).app from src/$(PROJECT).app.src and the variables above.
GEN_APP = {ok, [{application, App, Props0}]} = file:consult("src/$(PROJECT).app.src"), \\
  Atoms = fun(S) -> [list_to_atom(W) || W <- string:lexemes(S, " ")] end, \\
  Uniq = fun Uniq([], _) -> []; Uniq([X | Xs], Seen) -> \\
    case lists:member(X, Seen) of true -> Uniq(Xs, Seen); false -> [X | Uniq(Xs, [X | Seen])] end end, \\
  Apps = Uniq([kernel, stdlib] ++ Atoms("$(LOCAL_DEPS)") ++ Atoms("$(DEPS)"), []), \\
  Put = fun(K, V, P) -> lists:keystore(K, 1, P, {K, V}) end, \\
  Props = Put(applications, Apps, Put(modules, Atoms("$(MODULES)"), \\
    Put(vsn, "$(PROJECT_VERSION)", Put(description, "$(PROJECT_DESCRIPTION)", Props0)))), \\
  ok = file:write_file("ebin/$(PROJECT).app", io_lib:format("~tp.~n", [{application, App, Props}])), \\
  halt(0).

all: ebin/$(PROJECT).app

# Fails early, naming the dependency, when one is not on ERL_LIBS; SKIP_DEPS=1 skips it.
check-deps:
ifndef SKIP_DEPS
	@for dep in $(DEPS); do \\
	  $(ERL) -noshell -eval "case code:lib_dir($$dep) of {error, _} -> io:format(standard_error, \\"$(PROJECT): dependency $$dep is not on ERL_LIBS (this Makefile does not fetch dependencies)~n\\", []), halt(1); _ -> halt(0) end." || exit 1; \\
	done
endif

ebin/$(PROJECT).app: $(SOURCES) $(HEADERS) src/$(PROJECT).app.src
	@$(MAKE) --no-print-directory check-deps
	@mkdir -p ebin
ifneq ($(strip $(COMPILE_FIRST)),)
	$(ERLC) $(ERLC_OPTS) -I include -pa ebin -o ebin $(FIRST)
endif
	$(ERLC) $(ERLC_OPTS) -I include -pa ebin -o ebin $(REST)
	$(ERL) -noshell -eval '$(GEN_APP)'

clean:
	rm -rf ebin/*.beam ebin/$(PROJECT).app

.PHONY: all check-deps clean
`;
}

// The .app an erlang.mk package ships in its tarball, stale on purpose: an older version
// and only some modules, so a build that does not regenerate it is caught.
function staleApp(app: string, description: string, modules: string[]): string {
  return `{application, '${app}', [
\t{description, "${description}"},
\t{vsn, "0.0.1"},
\t{modules, [${modules.slice(0, 3).map((m) => `'${m}'`).join(",")}]},
\t{registered, []},
\t{applications, [kernel,stdlib]},
\t{env, []}
]}.
`;
}

function addEx(def: PkgDef, mods: ExModule[]): ExCallee[] {
  const callees: ExCallee[] = [];
  for (const m of mods) {
    if (def.files.has(m.path)) throw new Error(`${def.name}: two modules write ${m.path}`);
    def.files.set(m.path, m.source);
    def.modules += countExModules(m.source);
    callees.push(...m.callees);
  }
  return callees;
}

// defmodule, defprotocol and defimpl each make a module (but not a defimpl that a
// __deriving__ macro quotes for later).
function countExModules(source: string): number {
  return (source.match(/^\s*(defmodule|defprotocol|defimpl) (?!.*unquote\()/gm) ?? []).length;
}

function erlModulesOf(def: PkgDef): string[] {
  return [...def.files.keys()].filter((p) => /^src\/.*\.erl$/.test(p)).map((p) => p.slice(4, -4)).sort();
}

function addErl(def: PkgDef, mods: ErlModule[]): ErlCallee[] {
  const callees: ErlCallee[] = [];
  for (const m of mods) {
    const path = `src/${m.name}.erl`;
    if (def.files.has(path)) throw new Error(`${def.name}: two modules named ${m.name}`);
    def.files.set(path, m.source);
    def.modules += 1;
    callees.push(...m.callees);
  }
  return callees;
}

function newPkg(name: string, version: string, build: BuildTool, description: string, deps: GeneratedDep[], shape: string): PkgDef {
  const def: PkgDef = { name, version, build, description, deps, files: new Map(), modules: 0 };
  def.files.set("README.md", readme(name, version, build, description, shape));
  def.files.set("LICENSE", LICENSE);
  return def;
}

const dep = (pkg: string, requirement: string, optional = false): GeneratedDep => ({ package: pkg, requirement, optional });

// Generated Elixir library modules of several kinds under `prefix`.
function exBulk(
  g: Gen,
  r: Rng,
  def: PkgDef,
  prefix: string,
  scope: NameScope,
  callees: ExCallee[],
  counts: { libs: number; structs?: number; exceptions?: number; behaviours?: number; servers?: number; fns: [number, number] },
): { callees: ExCallee[]; servers: string[] } {
  const own: ExCallee[] = [];
  const servers: string[] = [];
  const ctx = () => ({ callees: [...callees, ...own.slice(-40)] });
  for (const name of moduleNames(r, prefix, counts.libs, scope)) {
    own.push(...addEx(def, [X.exLibraryModule(r, name, g.fns(r, ...counts.fns), SIZE_EX, ctx())]));
  }
  for (const name of moduleNames(r, prefix, counts.structs ?? 0, scope)) {
    own.push(...addEx(def, [X.exStructModule(r, name, g.fns(r, counts.fns[0], counts.fns[1] - 2), SIZE_EX, ctx())]));
  }
  for (const name of moduleNames(r, prefix, counts.exceptions ?? 0, scope)) {
    addEx(def, [X.exExceptionModule(r, `${name}Error`, r.chance(0.5) ? r.pick([400, 404, 413, 415, 422, 500]) : null)]);
  }
  for (const name of moduleNames(r, prefix, counts.behaviours ?? 0, scope)) {
    const callbacks = r.sample(VERBS.filter((v) => !v.includes("_")), r.int(2, 5)).map((v) => `${v}_${r.pick(NOUNS)}`);
    own.push(...addEx(def, [X.exBehaviourModule(r, name, callbacks, g.fns(r, 2, 6), SIZE_EX, ctx())]));
    for (const impl of moduleNames(r, name, r.int(1, 3), scope)) {
      own.push(...addEx(def, [X.exImplModule(r, impl, name, callbacks, g.fns(r, ...counts.fns), SIZE_EX, ctx())]));
    }
  }
  for (const name of moduleNames(r, prefix, counts.servers ?? 0, scope)) {
    addEx(def, [X.exGenServer(r, name, r.int(2, 5), SIZE_EX, ctx())]);
    servers.push(name);
  }
  return { callees: own, servers };
}

// ---------------------------------------------------------------------------------------
// The packages, in dependency order.

function genTelemetry(g: Gen): PkgDef {
  const T = "gen_telemetry";
  const r = g.rng(T);
  const def = newPkg(T, "1.2.1", "rebar3", "Dynamic dispatching library for metrics and instrumentation", [], "telemetry (rebar3)");
  def.files.set("rebar.config", "{erl_opts, [debug_info]}.\n{deps, []}.\n");
  def.files.set(`include/${T}.hrl`, telemetryHeader(T));
  addErl(def, telemetryModules(T));
  addErl(def, [E.erlSupervisor(r, `${T}_sup`, [`${T}_handler_table`]), E.erlApplication(r, `${T}_app`, `${T}_sup`)]);
  const lib = addErl(def, [E.erlLibraryModule(r, `${T}_test`, g.fns(r, 6, 9), SIZE_ERL, { callees: [], include: `${T}.hrl` })]);
  def.files.set(
    `src/${T}.app.src`,
    appSrc(T, { description: def.description, vsn: def.version, registered: [`${T}_sup`, `${T}_handler_table`], mod: `${T}_app`, applications: ["kernel", "stdlib"] }),
  );
  g.api.erl.set(T, lib);
  return def;
}

function genMime(g: Gen): PkgDef {
  const r = g.rng("gen_mime");
  const def = newPkg("gen_mime", "2.0.6", "mix", "A media type and file extension table", [], "mime");
  addEx(def, [mimeModule(r, "GenMime", "gen_mime", Math.round(900 * Math.min(g.scale, 1.5)))]);
  def.files.set("mix.exs", mixExs(def, "GenMime", "[]"));
  g.api.ex.set("gen_mime", []);
  return def;
}

function genPlugCrypto(g: Gen): PkgDef {
  const r = g.rng("gen_plug_crypto");
  const def = newPkg("gen_plug_crypto", "2.1.0", "mix", "Crypto-related functionality for the web", [], "plug_crypto");
  const scope = new NameScope();
  const { callees } = exBulk(g, r, def, "GenPlugCrypto", scope, [], { libs: 6, structs: 1, exceptions: 1, fns: [6, 12] });
  def.files.set("mix.exs", mixExs(def, "GenPlugCrypto", "[extra_applications: [:crypto]]"));
  g.api.ex.set("gen_plug_crypto", callees);
  return def;
}

function genPlug(g: Gen): PkgDef {
  const P = "GenPlug";
  const r = g.rng("gen_plug");
  const def = newPkg(
    "gen_plug",
    "1.16.1",
    "mix",
    "Compose web applications with functions",
    [dep("gen_mime", "~> 1.0 or ~> 2.0"), dep("gen_plug_crypto", "~> 1.1.1 or ~> 1.2 or ~> 2.0"), dep("gen_telemetry", "~> 0.4.3 or ~> 1.0")],
    "plug",
  );
  const scope = new NameScope();
  for (const n of [P, `${P}.Conn`, `${P}.Builder`, `${P}.Router`, `${P}.Router.Utils`, `${P}.Conn.Status`, `${P}.Static`, `${P}.Telemetry`, `${P}.Exception`, `${P}.Conn.Adapter`, `${P}.Application`]) scope.take(n);
  addEx(def, [plugBehaviour(P), plugConn(P), plugBuilder(P), plugRouterUtils(P), plugRouter(P), statusModule(`${P}.Conn.Status`, "gen_plug")]);
  addEx(def, [X.exExceptionModule(r, `${P}.Conn.AlreadySentError`, 500)]);
  addEx(def, [X.exProtocol(r, `${P}.Exception`, "status", ["Any"])]);
  addEx(def, [
    {
      name: `${P}.Static`,
      path: X.modulePath(`${P}.Static`),
      callees: [],
      source: `defmodule ${P}.Static do
  @moduledoc """
  Serves files from a directory. Extra media types come from \`config :gen_plug, :mimes\`
  at compile time.
  """
  @behaviour ${P}

  @mimes Application.compile_env(:gen_plug, :mimes, %{})

  @impl true
  def init(opts), do: %{at: ${P}.Router.Utils.split(Keyword.fetch!(opts, :at)), from: Keyword.fetch!(opts, :from)}

  @impl true
  def call(%${P}.Conn{segments: segments} = conn, %{at: at, from: from}) do
    if List.starts_with?(segments, at) do
      path = Path.join([from | Enum.drop(segments, length(at))])
      type = Map.get(@mimes, Path.extname(path), GenMime.from_path(path))

      case File.read(path) do
        {:ok, body} -> conn |> ${P}.Conn.put_resp_header("content-type", type) |> ${P}.Conn.send_resp(200, body) |> ${P}.Conn.halt()
        {:error, _} -> conn
      end
    else
      conn
    end
  end
end
`,
    },
    {
      name: `${P}.Telemetry`,
      path: X.modulePath(`${P}.Telemetry`),
      callees: [],
      source: `defmodule ${P}.Telemetry do
  @moduledoc "Emits start and stop events around the rest of the pipeline."
  @behaviour ${P}

  @impl true
  def init(opts), do: {Keyword.fetch!(opts, :event_prefix), Keyword.delete(opts, :event_prefix)}

  @impl true
  def call(conn, {prefix, extra}) do
    start = System.monotonic_time()
    :gen_telemetry.execute(prefix ++ [:start], %{system_time: System.system_time()}, %{conn: conn, options: extra})
    ${P}.Conn.put_private(conn, :gen_plug_telemetry_start, {prefix, start})
  end
end
`,
    },
  ]);
  const adapterCallbacks = ["send_resp", "send_file", "send_chunked", "read_req_body", "inform", "push"];
  const adapterCallees = addEx(def, [X.exBehaviourModule(r, `${P}.Conn.Adapter`, adapterCallbacks, g.fns(r, 3, 6), SIZE_EX, { callees: [] })]);
  g.api.ex.set("gen_plug:adapter", adapterCallbacks.map((name) => ({ module: `${P}.Conn.Adapter`, name })));
  const deps = [...g.exCallees(["gen_mime", "gen_plug_crypto"])];
  const bulk = exBulk(g, r, def, P, scope, deps, { libs: 34, structs: 6, exceptions: 9, behaviours: 2, servers: 2, fns: [6, 14] });
  for (const name of [`${P}.Adapters.Test.Conn`, `${P}.Conn.Unset`]) {
    scope.take(name);
    addEx(def, [X.exImplModule(r, name, `${P}.Conn.Adapter`, adapterCallbacks, g.fns(r, 3, 6), SIZE_EX, { callees: bulk.callees.slice(0, 20) })]);
  }
  const plugMods = moduleNames(r, P, 8, scope).map((name, i) => ({ module: name, key: `${r.pick(NOUNS)}_${i}` }));
  addEx(def, plugMods.map((p, i) => plugModule(P, p.module, p.key, `x-${r.pick(NOUNS)}-${i}`, r.pick([400, 403, 409, 412]))));
  for (const name of moduleNames(r, `${P}.Pipeline`, 3, scope)) {
    addEx(def, [builderUser(P, name, r.sample(plugMods, r.int(2, 5)), r.sample(NOUNS, r.int(3, 8)).map((n) => `mark_${n}`))]);
  }
  const routes = Array.from({ length: 26 }, (_, i) => {
    const segs = Array.from({ length: r.int(1, 3) }, () => (r.chance(0.3) ? `:${r.pick(NOUNS)}_id` : r.pick(NOUNS)));
    const uniq = [...new Set(segs)];
    if (r.chance(0.1)) uniq.push("*rest");
    return { method: r.pick(["GET", "POST", "PUT", "DELETE"]), path: `/r${i}/${uniq.join("/")}`, to: r.chance(0.3) ? r.pick(plugMods).module : undefined };
  });
  addEx(def, [routerUser(P, `${P}.Debugger.Router`, routes)]);
  scope.take(`${P}.Debugger.Router`);
  for (const name of moduleNames(r, `${P}.Templates`, 2, scope)) addEx(def, [X.exTemplatesModule(r, name, r.int(2, 4), r.int(6, 14))]);
  addEx(def, [X.exApplication(`${P}.Application`, bulk.servers)]);
  def.files.set("mix.exs", mixExs(def, P, `[extra_applications: [:logger, :eex, :crypto], mod: {${P}.Application, []}]`));
  g.api.ex.set("gen_plug", [...bulk.callees, ...adapterCallees]);
  g.api.ex.set("gen_plug:plugs", plugMods.map((p) => ({ module: p.module, name: p.key })));
  return def;
}

function genPubsub(g: Gen): PkgDef {
  const PS = "GenPubsub";
  const r = g.rng("gen_pubsub");
  const def = newPkg("gen_pubsub", "2.1.3", "mix", "Distributed publish/subscribe", [], "phoenix_pubsub");
  const scope = new NameScope();
  for (const n of [PS, `${PS}.Adapter`, `${PS}.PG`, `${PS}.Supervisor`, `${PS}.Application`]) scope.take(n);
  addEx(def, pubsubCore(PS));
  const bulk = exBulk(g, r, def, PS, scope, [], { libs: 3, behaviours: 1, servers: 2, fns: [5, 10] });
  addEx(def, [X.exApplication(`${PS}.Application`, bulk.servers)]);
  def.files.set("mix.exs", mixExs(def, PS, `[extra_applications: [:logger, :crypto], mod: {${PS}.Application, []}]`));
  g.api.ex.set("gen_pubsub", bulk.callees);
  return def;
}

function genHtml(g: Gen): PkgDef {
  const H = "GenHtml";
  const r = g.rng("gen_html");
  const def = newPkg("gen_html", "4.1.1", "mix", "Building blocks for working with HTML", [], "phoenix_html (the 17th package, a dependency of the application)");
  const scope = new NameScope();
  for (const n of [H, `${H}.Safe`]) scope.take(n);
  addEx(def, [htmlCore(H), X.exProtocol(r, `${H}.Safe`, "to_iodata", ["Atom", "BitString", "Integer", "Float", "List", "Tuple", "Date", "Time", "NaiveDateTime", "DateTime", "URI"])]);
  const bulk = exBulk(g, r, def, H, scope, [], { libs: 4, structs: 1, fns: [6, 12] });
  def.files.set("mix.exs", mixExs(def, H, "[extra_applications: [:logger]]"));
  g.api.ex.set("gen_html", bulk.callees);
  return def;
}

function genTemplate(g: Gen): PkgDef {
  const T = "GenTemplate";
  const r = g.rng("gen_template");
  const def = newPkg("gen_template", "1.0.4", "mix", "Template rendering with engines and embedding", [dep("gen_html", "~> 2.14.2 or ~> 3.0 or ~> 4.0", true)], "phoenix_template");
  const scope = new NameScope();
  for (const n of [T, `${T}.Engine`, `${T}.EExEngine`, `${T}.ExsEngine`, `${T}.HTMLEngine`]) scope.take(n);
  addEx(def, templateCore(T, "GenHtml"));
  const bulk = exBulk(g, r, def, T, scope, [], { libs: 1, fns: [5, 9] });
  def.files.set("mix.exs", mixExs(def, T, "[extra_applications: [:eex]]"));
  g.api.ex.set("gen_template", bulk.callees);
  return def;
}

function genWebsock(g: Gen): PkgDef {
  const def = newPkg("gen_websock", "0.5.3", "mix", "A specification for WebSocket connections", [], "websock");
  addEx(def, [websockBehaviour("GenWebsock")]);
  def.files.set("mix.exs", mixExs(def, "GenWebsock", "[]"));
  void g;
  return def;
}

function genCastore(g: Gen): PkgDef {
  const r = g.rng("gen_castore");
  const def = newPkg("gen_castore", "1.0.8", "mix", "Up-to-date bundle of certificate authorities", [], "castore");
  addEx(def, [castoreCore("GenCastore", "gen_castore"), X.exMixTask(r, "gen_castore.certdata", g.fns(r, 2, 4), SIZE_EX, { callees: [] })]);
  def.files.set("priv/cacerts.pem", caBundle(r, 140));
  def.files.set("mix.exs", mixExs(def, "GenCastore", "[extra_applications: [:public_key]]"));
  return def;
}

const RANCH_TRANSPORT = ["listen", "accept", "handshake", "recv", "send", "close"];
const RANCH_PROTOCOL = ["start_link", "connection_process"];

function genRanch(g: Gen): PkgDef {
  const R = "gen_ranch";
  const r = g.rng(R);
  const def = newPkg(R, "1.8.0", "make", "Socket acceptor pool for TCP protocols", [], "ranch (erlang.mk)");
  const scope = new NameScope();
  const core = [R, `${R}_listener_sup`, `${R}_app`, `${R}_sup`, `${R}_server`, `${R}_conns_sup`, `${R}_acceptor`, `${R}_transport`, `${R}_protocol`, `${R}_tcp`, `${R}_ssl`];
  for (const n of core) scope.take(n);
  addErl(def, [E.erlBehaviour(r, `${R}_transport`, RANCH_TRANSPORT), E.erlBehaviour(r, `${R}_protocol`, RANCH_PROTOCOL)]);
  addErl(def, ranchModules(R));
  const ctx = { callees: [] as ErlCallee[] };
  const libs: ErlCallee[] = [];
  for (const name of erlNames(r, R, 11, scope)) libs.push(...addErl(def, [E.erlLibraryModule(r, name, g.fns(r, 4, 9), SIZE_ERL, { callees: libs.slice(-30) })]));
  for (const s of [`${R}_server`, `${R}_conns_sup`, `${R}_acceptor`]) addErl(def, [E.erlGenServer(r, s, r.int(2, 5), SIZE_ERL, ctx)]);
  addErl(def, [E.erlSupervisor(r, `${R}_sup`, [`${R}_server`]), E.erlApplication(r, `${R}_app`, `${R}_sup`)]);
  for (const t of [`${R}_tcp`, `${R}_ssl`]) libs.push(...addErl(def, [E.erlHandlerModule(r, t, `${R}_transport`, RANCH_TRANSPORT, g.fns(r, 3, 7), SIZE_ERL, { callees: libs.slice(-20) })]));
  def.files.set(`src/${R}.app.src`, makeAppSrc(R, [`${R}_sup`, `${R}_server`], `${R}_app`));
  def.files.set("Makefile", makefile(R, def.description, def.version, ["ssl"], [], [`${R}_transport`, `${R}_protocol`]));
  def.files.set(`ebin/${R}.app`, staleApp(R, def.description, core));
  g.api.erl.set(R, libs);
  g.api.erlBehaviours.set(`${R}_protocol`, RANCH_PROTOCOL);
  return def;
}

function makeAppSrc(app: string, registered: string[], mod: string): string {
  return `%% vsn, description, modules and applications are filled in by the Makefile.
{application, ${app},
 [{description, ""},
  {vsn, ""},
  {modules, []},
  {registered, [${registered.join(", ")}]},
  {mod, {${mod}, []}},
  {applications, []},
  {env, []},
  {licenses, ["Apache-2.0"]},
  {links, [{"Source", "https://example.invalid/beamix/bench/${app}"}]}
 ]}.
`;
}

const COW_RECORDS: RecordDef[] = [
  { name: "gen_cow_req", fields: ["method", "scheme", "host", "port", "path", "qs", "headers", "body", "peer", "version"] },
  { name: "gen_cow_frame", fields: ["type", "flags", "stream_id", "payload", "padding"] },
];

function genCowlib(g: Gen): PkgDef {
  const C = "gen_cowlib";
  const r = g.rng(C);
  const def = newPkg(C, "2.13.0", "make", "Support library for manipulating Web protocols", [], "cowlib (erlang.mk)");
  const scope = new NameScope();
  for (const n of [C]) scope.take(n);
  def.files.set("include/gen_cow_inline.hrl", E.erlGuardHeader("gen_cow_inline", COW_RECORDS));
  const ctx = (callees: ErlCallee[]) => ({ callees, include: "gen_cow_inline.hrl", guardMacros: true });
  const libs: ErlCallee[] = [];
  for (const name of erlNames(r, "gen_cow", 14, scope)) {
    libs.push(...addErl(def, [E.erlParserModule(r, name, g.fns(r, 4, 9), g.fns(r, 3, 7), SIZE_ERL, ctx(libs.slice(-30)), COW_RECORDS)]));
  }
  for (const [name, entries] of [["gen_cow_mimetypes", 1300], ["gen_cow_hpack_table", 500], ["gen_cow_qpack_table", 400]] as const) {
    scope.take(name);
    libs.push(...addErl(def, [E.erlTableModule(r, name, Math.round(entries * Math.min(g.scale, 1.5)))]));
  }
  for (const name of erlNames(r, "gen_cow", 13, scope)) {
    libs.push(...addErl(def, [E.erlLibraryModule(r, name, g.fns(r, 5, 12), SIZE_ERL, ctx(libs.slice(-30)), COW_RECORDS)]));
  }
  def.files.set(`src/${C}.app.src`, `%% vsn, description, modules and applications are filled in by the Makefile.
{application, ${C},
 [{description, ""},
  {vsn, ""},
  {modules, []},
  {registered, []},
  {applications, []},
  {env, []},
  {licenses, ["Apache-2.0"]},
  {links, [{"Source", "https://example.invalid/beamix/bench/${C}"}]}
 ]}.
`);
  def.files.set("Makefile", makefile(C, def.description, def.version, ["crypto"], [], []));
  def.files.set(`ebin/${C}.app`, staleApp(C, def.description, erlModulesOf(def)));
  g.api.erl.set(C, libs);
  return def;
}

const COWBOY_BEHAVIOURS: [string, string[]][] = [
  ["gen_cowboy_handler", ["init", "terminate"]],
  ["gen_cowboy_stream", ["init", "data", "info", "terminate", "early_error"]],
  ["gen_cowboy_middleware", ["execute"]],
  ["gen_cowboy_websocket", ["websocket_init", "websocket_handle", "websocket_info"]],
  ["gen_cowboy_sub_protocol", ["upgrade"]],
];

function genCowboy(g: Gen): PkgDef {
  const C = "gen_cowboy";
  const r = g.rng(C);
  const def = newPkg(C, "2.12.0", "make", "Small, fast, modern HTTP server", [dep("gen_cowlib", "2.13.0"), dep("gen_ranch", "1.8.0")], "cowboy (erlang.mk)");
  const scope = new NameScope();
  const core = [C, `${C}_app`, `${C}_sup`, `${C}_clock`, `${C}_clear`, `${C}_tls`, ...COWBOY_BEHAVIOURS.map(([b]) => b)];
  for (const n of core) scope.take(n);
  addErl(def, COWBOY_BEHAVIOURS.map(([b, cbs]) => E.erlBehaviour(r, b, cbs)));
  addErl(def, [cowboyMain(C, "gen_ranch"), E.erlGenServer(r, `${C}_clock`, 3, SIZE_ERL, { callees: [] })]);
  addErl(def, [E.erlSupervisor(r, `${C}_sup`, [`${C}_clock`]), E.erlApplication(r, `${C}_app`, `${C}_sup`)]);
  const deps = g.erlCallees(["gen_cowlib", "gen_ranch"]);
  const ctx = (callees: ErlCallee[]) => ({ callees, include: "gen_cowlib/include/gen_cow_inline.hrl", guardMacros: true });
  const libs: ErlCallee[] = [];
  const pick = () => [...r.sample(deps, 20), ...libs.slice(-20)];
  for (const name of erlNames(r, C, 6, scope)) libs.push(...addErl(def, [E.erlParserModule(r, name, g.fns(r, 3, 7), g.fns(r, 3, 6), SIZE_ERL, ctx(pick()), COW_RECORDS)]));
  for (const name of erlNames(r, C, 15, scope)) libs.push(...addErl(def, [E.erlLibraryModule(r, name, g.fns(r, 5, 11), SIZE_ERL, ctx(pick()), COW_RECORDS)]));
  for (const t of [`${C}_clear`, `${C}_tls`]) libs.push(...addErl(def, [E.erlHandlerModule(r, t, "gen_ranch_protocol", RANCH_PROTOCOL, g.fns(r, 3, 7), SIZE_ERL, ctx(pick()), COW_RECORDS)]));
  for (const [b, cbs] of COWBOY_BEHAVIOURS) {
    for (const name of erlNames(r, b, b === "gen_cowboy_stream" ? 4 : 2, scope)) {
      libs.push(...addErl(def, [E.erlHandlerModule(r, name, b, cbs, g.fns(r, 3, 8), SIZE_ERL, ctx(pick()), COW_RECORDS)]));
    }
    g.api.erlBehaviours.set(b, cbs);
  }
  def.files.set(`src/${C}.app.src`, makeAppSrc(C, [`${C}_sup`, `${C}_clock`], `${C}_app`));
  def.files.set("Makefile", makefile(C, def.description, def.version, ["crypto"], [{ name: "gen_cowlib", version: "2.13.0" }, { name: "gen_ranch", version: "1.8.0" }], COWBOY_BEHAVIOURS.map(([b]) => b)));
  def.files.set(`ebin/${C}.app`, staleApp(C, def.description, core));
  g.api.erl.set(C, libs);
  return def;
}

function genCowboyTelemetry(g: Gen): PkgDef {
  const C = "gen_cowboy_telemetry";
  const r = g.rng(C);
  const def = newPkg(C, "0.4.0", "rebar3", "Telemetry instrumentation for the HTTP server", [dep("gen_cowboy", "~> 2.7"), dep("gen_telemetry", "~> 1.0")], "cowboy_telemetry (rebar3)");
  def.files.set("rebar.config", `{erl_opts, [debug_info]}.\n{deps, [\n    {gen_cowboy, "~> 2.7"},\n    {gen_telemetry, "~> 1.0"}\n]}.\n`);
  const callees = [...r.sample(g.erlCallees(["gen_cowboy"]), 15), ...g.erlCallees(["gen_telemetry"])];
  addErl(def, [
    E.erlHandlerModule(r, `${C}_h`, "gen_cowboy_stream", g.api.erlBehaviours.get("gen_cowboy_stream")!, g.fns(r, 4, 8), SIZE_ERL, { callees }),
    E.erlLibraryModule(r, C, g.fns(r, 3, 6), SIZE_ERL, { callees }),
  ]);
  def.files.set(`src/${C}.app.src`, appSrc(C, { description: def.description, vsn: def.version, registered: [], mod: null, applications: ["kernel", "stdlib", "gen_telemetry", "gen_cowboy"] }));
  return def;
}

function genPlugCowboy(g: Gen): PkgDef {
  const PC = "GenPlugCowboy";
  const r = g.rng("gen_plug_cowboy");
  const def = newPkg(
    "gen_plug_cowboy",
    "2.7.1",
    "mix",
    "A plug adapter for the HTTP server",
    [dep("gen_cowboy", "~> 2.7.0 or ~> 2.8.0 or ~> 2.9.0 or ~> 2.10.0 or ~> 2.11.0 or ~> 2.12.0"), dep("gen_cowboy_telemetry", "~> 0.3"), dep("gen_plug", "~> 1.14")],
    "plug_cowboy",
  );
  const scope = new NameScope();
  for (const n of [PC, `${PC}.Handler`, `${PC}.Conn`, `${PC}.Stream`]) scope.take(n);
  addEx(def, [
    {
      name: PC,
      path: X.modulePath(PC),
      callees: [],
      source: `defmodule ${PC} do
  @moduledoc "Runs a plug over the HTTP server."

  @doc "A child spec starting a listener for \`:plug\` on \`:scheme\`."
  def child_spec(opts) do
    scheme = Keyword.fetch!(opts, :scheme)
    {plug, plug_opts} = Keyword.fetch!(opts, :plug)
    options = Keyword.get(opts, :options, [])
    ref = Keyword.get(options, :ref, Module.concat(plug, scheme |> to_string() |> String.upcase()))
    %{id: ref, start: {__MODULE__, scheme, [plug, plug_opts, options]}, type: :supervisor}
  end

  @doc "Starts a clear-text listener."
  def http(plug, opts, options \\\\ []) do
    ref = Keyword.get(options, :ref, Module.concat(plug, HTTP))
    :gen_cowboy.start_clear(ref, [port: Keyword.get(options, :port, 4000)], %{env: %{plug: {plug, plug.init(opts)}}})
  end

  @doc "Starts a TLS listener."
  def https(plug, opts, options \\\\ []) do
    ref = Keyword.get(options, :ref, Module.concat(plug, HTTPS))
    :gen_cowboy.start_tls(ref, [port: Keyword.get(options, :port, 4040)], %{env: %{plug: {plug, plug.init(opts)}}})
  end

  @doc "Stops a listener."
  def shutdown(ref), do: :gen_cowboy.stop_listener(ref)
end
`,
    },
  ]);
  const deps = [...r.sample(g.exCallees(["gen_plug"]), 20)];
  addEx(def, [
    X.exImplModule(r, `${PC}.Handler`, ":gen_cowboy_handler", g.api.erlBehaviours.get("gen_cowboy_handler")!, g.fns(r, 3, 6), SIZE_EX, { callees: deps }),
    X.exImplModule(r, `${PC}.Stream`, ":gen_cowboy_stream", g.api.erlBehaviours.get("gen_cowboy_stream")!, g.fns(r, 2, 5), SIZE_EX, { callees: deps }),
    X.exImplModule(r, `${PC}.Conn`, "GenPlug.Conn.Adapter", g.api.ex.get("gen_plug:adapter")!.map((c) => c.name), g.fns(r, 4, 8), SIZE_EX, { callees: deps }),
  ]);
  const bulk = exBulk(g, r, def, PC, scope, deps, { libs: 2, servers: 2, fns: [5, 10] });
  def.files.set("mix.exs", mixExs(def, PC, "[extra_applications: [:logger]]"));
  g.api.ex.set("gen_plug_cowboy", bulk.callees);
  return def;
}

function genWebsockAdapter(g: Gen): PkgDef {
  const WA = "GenWebsockAdapter";
  const r = g.rng("gen_websock_adapter");
  const def = newPkg(
    "gen_websock_adapter",
    "0.5.7",
    "mix",
    "A set of WebSocket adapters for the web stack",
    [dep("gen_plug", "~> 1.14"), dep("gen_websock", "~> 0.5"), dep("gen_plug_cowboy", "~> 2.6", true)],
    "websock_adapter (its server adapter needs the optional dependency)",
  );
  addEx(def, [
    websockAdapterCore(WA, "GenPlug", "GenWebsock"),
    X.exExceptionModule(r, `${WA}.UpgradeError`, 400),
    X.exLibraryModule(r, `${WA}.UpgradeValidation`, g.fns(r, 4, 8), SIZE_EX, { callees: r.sample(g.exCallees(["gen_plug"]), 10) }),
    websockAdapterOptional(WA, "GenWebsock", "gen_cowboy_websocket", g.api.erlBehaviours.get("gen_cowboy_websocket")!),
  ]);
  def.files.set("mix.exs", mixExs(def, WA, "[]"));
  return def;
}

function genJason(g: Gen): PkgDef {
  const J = "GenJason";
  const r = g.rng("gen_jason");
  const def = newPkg("gen_jason", "1.4.4", "mix", "A JSON parser and generator", [], "jason (optional in the framework, required by the application)");
  const scope = new NameScope();
  for (const n of [J, `${J}.Decoder`, `${J}.Codegen`, `${J}.Encoder`, `${J}.DecodeError`, `${J}.EncodeError`]) scope.take(n);
  addEx(def, jsonCore(J));
  addEx(def, [
    X.exProtocol(r, `${J}.Encoder`, "encode", ["Atom", "BitString", "Integer", "Float", "List", "Map", "Date", "Time", "NaiveDateTime", "DateTime", "Any"]),
    X.exExceptionModule(r, `${J}.DecodeError`, null),
    X.exExceptionModule(r, `${J}.EncodeError`, null),
  ]);
  const bulk = exBulk(g, r, def, J, scope, [], { libs: 3, structs: 2, fns: [6, 12] });
  def.files.set("mix.exs", mixExs(def, J, "[extra_applications: [:logger]]"));
  g.api.ex.set("gen_jason", bulk.callees);
  return def;
}

function genPhoenix(g: Gen): PkgDef {
  const Xp = "GenPhoenix";
  const P = "GenPlug";
  const r = g.rng("gen_phoenix");
  const def = newPkg(
    "gen_phoenix",
    "1.7.14",
    "mix",
    "Productive. Reliable. Fast. A web framework",
    [
      dep("gen_plug", "~> 1.14"),
      dep("gen_plug_crypto", "~> 1.2 or ~> 2.0"),
      dep("gen_telemetry", "~> 0.4 or ~> 1.0"),
      dep("gen_pubsub", "~> 2.1"),
      dep("gen_template", "~> 1.0"),
      dep("gen_websock_adapter", "~> 0.5.3"),
      dep("gen_castore", ">= 0.0.0"),
      dep("gen_plug_cowboy", "~> 2.7", true),
      dep("gen_jason", "~> 1.0", true),
      dep("gen_html", "~> 4.1", true),
    ],
    "phoenix",
  );
  const scope = new NameScope();
  const hand = [
    `${Xp}.Router`, `${Xp}.Router.Route`, `${Xp}.Controller`, `${Xp}.Endpoint`, `${Xp}.Endpoint.Config`, `${Xp}.Endpoint.Supervisor`,
    `${Xp}.Socket`, `${Xp}.Socket.Transport`, `${Xp}.Channel`, `${Xp}.Param`, `${Xp}.Json`, `${Xp}.Endpoint.Cowboy2Adapter`, `${Xp}.ErrorPages`, `${Xp}.Application`,
  ];
  for (const n of hand) scope.take(n);
  addEx(def, [phxRoute(Xp, P), phxRouter(Xp, P), phxController(Xp, P), ...phxEndpoint(Xp, P), ...phxSocket(Xp, P, "GenPubsub")]);
  addEx(def, [X.exProtocol(r, `${Xp}.Param`, "to_param", ["Integer", "BitString", "Atom", "Map", "Any"])]);
  addEx(def, [
    {
      name: `${Xp}.Json`,
      path: X.modulePath(`${Xp}.Json`),
      callees: [],
      source: `defmodule ${Xp}.Json do
  @moduledoc false
  # The default JSON library: GenJason when the application has it (an optional dependency).

  if Code.ensure_loaded?(GenJason) do
    def encode_to_iodata!(data), do: GenJason.encode_to_iodata!(data)
    def decode!(data), do: GenJason.decode!(data)
  else
    def encode_to_iodata!(data), do: inspect(data)
    def decode!(_data), do: raise("no JSON library: add :gen_jason to the dependencies")
  end
end
`,
    },
    {
      name: `${Xp}.Endpoint.Cowboy2Adapter`,
      path: X.modulePath(`${Xp}.Endpoint.Cowboy2Adapter`),
      callees: [],
      source: `if Code.ensure_loaded?(GenPlugCowboy) do
  defmodule ${Xp}.Endpoint.Cowboy2Adapter do
    @moduledoc false
    # Compiled only when the optional server adapter is in the closure.

    def child_specs(endpoint, config) do
      for {scheme, default_port} <- [http: 4000, https: 4040], Keyword.has_key?(config, scheme) do
        options = Keyword.get(config, scheme, [])
        GenPlugCowboy.child_spec(scheme: scheme, plug: {endpoint, []}, options: Keyword.put_new(options, :port, default_port))
      end
    end
  end
end
`,
    },
  ]);
  // Error pages embedded from template files at compile time (@external_resource).
  const pages = r.int(5, 7);
  for (let i = 0; i < pages; i++) def.files.set(`lib/gen_phoenix/error_pages/page_${400 + i}.html.eex`, X.eexPage(r, r.int(8, 16)));
  addEx(def, [
    {
      name: `${Xp}.ErrorPages`,
      path: X.modulePath(`${Xp}.ErrorPages`),
      callees: [],
      source: `defmodule ${Xp}.ErrorPages do
  @moduledoc false
  require GenTemplate
  GenTemplate.embed_templates("error_pages/*.html.eex")
end
`,
    },
  ]);
  const deps = [...r.sample(g.exCallees(["gen_plug"]), 40), ...r.sample(g.exCallees(["gen_plug_crypto", "gen_pubsub", "gen_template"]), 20)];
  const bulk = exBulk(g, r, def, Xp, scope, deps, { libs: 84, structs: 12, exceptions: 11, behaviours: 4, servers: 5, fns: [6, 14] });
  const plugMods = moduleNames(r, `${Xp}.Plugs`, 3, scope).map((name, i) => ({ module: name, key: `${r.pick(NOUNS)}_${i}` }));
  addEx(def, plugMods.map((p, i) => plugModule(P, p.module, p.key, `x-phx-${r.pick(NOUNS)}-${i}`, r.pick([400, 403, 409]))));
  for (const name of moduleNames(r, `${Xp}.Pipeline`, 2, scope)) {
    addEx(def, [builderUser(P, name, [...r.sample(plugMods, 2), ...r.sample(g.api.ex.get("gen_plug:plugs")!.map((c) => ({ module: c.module, key: c.name })), 2)], r.sample(NOUNS, r.int(3, 7)).map((n) => `mark_${n}`))]);
  }
  for (const name of moduleNames(r, `${Xp}.Templates`, 2, scope)) addEx(def, [X.exTemplatesModule(r, name, r.int(2, 4), r.int(6, 14))]);
  const tasks = new NameScope();
  for (let i = 0; i < 40; i++) {
    // A name drawn twice is skipped (about 33 tasks remain).
    const task = tasks.take(r.chance(0.5) ? `gen_phx.gen.${r.pick(NOUNS)}` : `gen_phx.${r.pick(NOUNS)}`);
    if (task.match(/_\d+$/)) continue;
    addEx(def, [X.exMixTask(r, task, g.fns(r, 3, 9), SIZE_EX, { callees: r.sample(bulk.callees, 20) })]);
  }
  addEx(def, [X.exApplication(`${Xp}.Application`, bulk.servers)]);
  def.files.set("mix.exs", mixExs(def, Xp, `[mod: {${Xp}.Application, []}, extra_applications: [:logger, :eex, :crypto, :public_key]]`));
  return def;
}

// ---------------------------------------------------------------------------------------
// The consumer: a web application on top of the closure.

function consumerFiles(r: Rng): Map<string, string> {
  const files = new Map<string, string>();
  const A = "GenApp";
  files.set(
    "mix.exs",
    `defmodule ${A}.MixProject do
  use Mix.Project

  def project do
    [
      app: :gen_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps()
    ]
  end

  def application do
    [mod: {${A}.Application, []}, extra_applications: [:logger]]
  end

  defp deps do
    [
      {:gen_phoenix, "~> 1.7.14"},
      {:gen_html, "~> 4.1"},
      {:gen_jason, "~> 1.2"},
      {:gen_plug_cowboy, "~> 2.5"}
    ]
  end
end
`,
  );
  files.set(
    "config/config.exs",
    `import Config

# Read by gen_mime at compile time: gen_mime must be compiled with this configuration.
config :gen_mime, :types, %{
  "application/x-gen-app-note" => ["gnote"],
  "text/x-gen-app-log" => ["glog"]
}

config :gen_phoenix, :json_library, GenJason

config :gen_app, ${A}.Endpoint,
  url: [host: "localhost"],
  http: [port: 4000],
  secret_key_base: "${r.hex(64)}"
`,
  );
  files.set("README.md", "# gen_app\n\nA web application on the generated closure, used by beamix's benchmark as the Mix project of the baseline.\n");
  const controllers = ["Page", "User", "Post", "Comment", "Session", "Admin.Report", "Api.Item"];
  const routes: string[] = [];
  files.set(
    "lib/gen_app/application.ex",
    `defmodule ${A}.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      {GenPubsub, name: ${A}.PubSub},
      ${A}.Endpoint
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: ${A}.Supervisor)
  end
end
`,
  );
  files.set(
    "lib/gen_app/endpoint.ex",
    `defmodule ${A}.Endpoint do
  use GenPhoenix.Endpoint, otp_app: :gen_app

  socket "/socket", ${A}.UserSocket, websocket: true

  plug GenPlug.Static, at: "/static", from: "priv/static"
  plug GenPlug.Telemetry, event_prefix: [:gen_app, :endpoint]
  plug ${A}.Router
end
`,
  );
  for (const c of controllers) {
    const name = `${A}Web.${c}Controller`;
    const actions = ["index", "show", "new", "create", "edit", "update", "delete"];
    files.set(
      X.modulePath(name).replace(/^lib\//, "lib/"),
      `defmodule ${name} do
  use GenPhoenix.Controller

  plug :put_${c.toLowerCase().replace(/\./g, "_")}_section

${actions
  .map(
    (a, i) => `  def ${a}(conn, params) do
    conn
    |> assign(:params, params)
    |> ${i % 3 === 0 ? `json(%{action: "${a}", id: params["id"], section: conn.assigns[:section]})` : i % 3 === 1 ? `text("${c} ${a} #{inspect(params)}")` : `html(GenHtml.safe_to_string(GenHtml.content_tag(:p, "${c} ${a}", class: "${a}")))`}
  end`,
  )
  .join("\n\n")}

  defp put_${c.toLowerCase().replace(/\./g, "_")}_section(conn, _opts), do: assign(conn, :section, "${c}")
end
`,
    );
  }
  for (const c of controllers.slice(0, 4)) routes.push(`    resources "/${c.toLowerCase()}s", ${c}Controller`);
  routes.push(`    get "/", PageController, :index`);
  files.set(
    "lib/gen_app/router.ex",
    `defmodule ${A}.Router do
  use GenPhoenix.Router

  pipeline :browser do
    plug :fetch_query
    plug :put_secure_headers
  end

  pipeline :api do
    plug :fetch_query
  end

  def fetch_query(conn, _opts), do: GenPlug.Conn.fetch_query_params(conn)
  def put_secure_headers(conn, _opts), do: GenPlug.Conn.put_resp_header(conn, "x-frame-options", "SAMEORIGIN")

  scope "/", ${A}Web do
    pipe_through :browser

${routes.join("\n")}
  end

  scope "/admin", ${A}Web.Admin do
    pipe_through :browser

    resources "/reports", ReportController, only: [:index, :show]
  end

  scope "/api", ${A}Web.Api do
    pipe_through :api

    resources "/items", ItemController
    get "/items/:id/history/*path", ItemController, :show, as: "item_history"
  end
end
`,
  );
  files.set(
    "lib/gen_app/user_socket.ex",
    `defmodule ${A}.UserSocket do
  use GenPhoenix.Socket

  channel "room:*", ${A}.RoomChannel
  channel "lobby", ${A}.RoomChannel, lobby: true

  @impl true
  def connect(%{"token" => token}, socket) when is_binary(token), do: {:ok, assign(socket, :token, token)}
  def connect(_params, _socket), do: :error
end
`,
  );
  files.set(
    "lib/gen_app/room_channel.ex",
    `defmodule ${A}.RoomChannel do
  use GenPhoenix.Channel

  @impl true
  def join("room:" <> room, _payload, socket), do: {:ok, assign(socket, :room, room)}
  def join("lobby", _payload, socket), do: {:ok, socket}

  @impl true
  def handle_in("shout", payload, socket) do
    broadcast!(socket, "shout", payload)
    {:noreply, socket}
  end

  def handle_in(event, payload, socket), do: {:reply, {:ok, %{event: event, payload: payload}}, socket}
end
`,
  );
  return files;
}

// ---------------------------------------------------------------------------------------

const BUILDERS = [
  genTelemetry,
  genMime,
  genPlugCrypto,
  genPlug,
  genPubsub,
  genHtml,
  genTemplate,
  genWebsock,
  genCastore,
  genRanch,
  genCowlib,
  genCowboy,
  genCowboyTelemetry,
  genPlugCowboy,
  genWebsockAdapter,
  genJason,
  genPhoenix,
];

// The closure, without writing anything: package definitions in dependency order.
function buildDefs(seed: number, scale: number): { defs: PkgDef[]; consumer: Map<string, string> } {
  const g = new Gen(seed, scale);
  const defs = BUILDERS.map((b) => b(g));
  return { defs, consumer: consumerFiles(g.rng("gen_app")) };
}

const countLines = (text: string): number => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);

// Writes the closure under outDir: packages/<name>-<version>/, consumer/gen_app/, and a
// README.md whose tables use the format of test/fixtures/README.md. outDir is replaced.
export async function generateClosure(outDir: string, opts: GenerateOptions = {}): Promise<GeneratedClosure> {
  const seed = opts.seed ?? DEFAULT_SEED;
  const scale = opts.scale ?? DEFAULT_SCALE;
  const { defs, consumer } = buildDefs(seed, scale);
  await rm(outDir, { recursive: true, force: true });
  const packages: GeneratedPackage[] = [];
  for (const def of defs) {
    const dir = join(outDir, "packages", `${def.name}-${def.version}`);
    let lines = 0;
    for (const [rel, text] of [...def.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), text);
      if (/\.(ex|erl|hrl|eex)$/.test(rel)) lines += countLines(text);
    }
    packages.push({ name: def.name, version: def.version, build: def.build, dir, deps: def.deps, modules: def.modules, sourceLines: lines });
  }
  const consumerDir = join(outDir, "consumer", "gen_app");
  for (const [rel, text] of consumer) {
    await mkdir(dirname(join(consumerDir, rel)), { recursive: true });
    await writeFile(join(consumerDir, rel), text);
  }
  const consumerDeps = [dep("gen_phoenix", "~> 1.7.14"), dep("gen_html", "~> 4.1"), dep("gen_jason", "~> 1.2"), dep("gen_plug_cowboy", "~> 2.5")];
  await writeFile(join(outDir, "README.md"), closureReadme(packages, consumerDeps, seed, scale));
  return {
    root: outDir,
    packages,
    consumer: { name: "gen_app", dir: consumerDir, deps: consumerDeps },
    modules: packages.reduce((n, p) => n + p.modules, 0),
    sourceLines: packages.reduce((n, p) => n + p.sourceLines, 0),
  };
}

function closureReadme(packages: GeneratedPackage[], consumerDeps: GeneratedDep[], seed: number, scale: number): string {
  const depCell = (deps: GeneratedDep[]) => (deps.length === 0 ? "-" : deps.map((d) => `${d.package} ${d.requirement}${d.optional ? " (optional)" : ""}`).join("; "));
  const compileEnv = (name: string) => (name === "gen_mime" ? "gen_mime" : name === "gen_plug" ? "gen_plug" : "-");
  const rows = packages.map((p) => `| ${p.name} | ${p.version} | ${p.name} | ${p.build} | packages/${p.name}-${p.version} | ${depCell(p.deps)} | ${compileEnv(p.name)} |`);
  return `# Synthetic closure (generated)

Written by bench/generate-closure.ts with seed ${seed} and scale ${scale}: ${packages.length} packages
with the shape of the Phoenix 1.7 closure. Regenerate it rather than editing it.

${wrap("Dependencies between packages are plain Hex requirements on the default repository. The erlang.mk-style packages carry a stale ebin/APP.app that must be deleted before building.", "")}

## Packages

| name | version | app | build | dir | dependencies | compile env |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

## Consumers

| name | version | app | build | dir | dependencies | compile env |
| --- | --- | --- | --- | --- | --- | --- |
| gen_app | 0.1.0 | gen_app | mix | consumer/gen_app | ${depCell(consumerDeps)} | - |
`;
}

