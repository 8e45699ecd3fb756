// Elixir source for the synthetic closure: library modules with multi-clause functions,
// structs, exceptions, behaviours with `use` and overridable defaults, protocols with
// implementations, GenServers, Mix tasks and EEx templates compiled at compile time. The
// code compiles without warnings: every variable and attribute is used, every private
// function is called, and every remote call names a function that exists.
import { NameScope, type Rng } from "./rng.ts";
import { ADJECTIVES, NOUNS, VERBS, camel, paragraph, syllables, wrap } from "./words.ts";

export type VT = "bin" | "list" | "int" | "map" | "any" | "atom";

// Module.name(value, opts), returning {:ok, value} or value.
export interface ExCallee {
  module: string;
  name: string;
}

export interface ExModule {
  name: string;
  path: string; // relative to the package root
  source: string;
  callees: ExCallee[];
}

export interface FnSize {
  clauses: number;
  steps: [number, number];
}

export interface ExContext {
  callees: ExCallee[];
}

// lib/gen_plug/conn/query.ex for GenPlug.Conn.Query.
export function modulePath(module: string, root = "lib"): string {
  const parts = module.split(".").map((p) =>
    p
      .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
      .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
      .toLowerCase(),
  );
  return `${root}/${parts.join("/")}.ex`;
}

const atom = (r: Rng): string => r.pick([...NOUNS, ...ADJECTIVES]);

class Clause {
  private n = 0;
  fresh(prefix: string): string {
    this.n += 1;
    return `${prefix}${this.n}`;
  }
}

interface FnCtx {
  locals: string[];
  callees: ExCallee[];
  attrs: Map<string, { value: string; used: boolean }>;
  struct: string[] | null; // fields of %__MODULE__{}, when the module defines a struct
}

type Step = (r: Rng, v: string, o: string, c: Clause, ctx: FnCtx) => [VT, string];

function useAttr(r: Rng, ctx: FnCtx): string | null {
  const ints = [...ctx.attrs].filter(([, a]) => /^\d+$/.test(a.value));
  if (ints.length === 0) return null;
  const [name, a] = r.pick(ints);
  a.used = true;
  return `@${name}`;
}

const STEPS: Record<VT, Step[]> = {
  bin: [
    (r, v, o) => ["list", `${o} = ${v} |> String.split("${r.pick([",", ";", "/", "=", " "])}", trim: true) |> Enum.map(&String.trim/1)`],
    (_r, v, o) => ["bin", `${o} = ${v} |> String.trim() |> String.downcase()`],
    (r, v, o) => ["int", `${o} = byte_size(${v}) + ${r.int(1, 99)}`],
    (_r, v, o, c) => {
      const e = c.fresh("c");
      return ["bin", `${o} = for <<${e} <- ${v}>>, ${e} not in [?\\s, ?\\t], into: "", do: <<${e}>>`];
    },
    (r, v, o) => [
      "atom",
      `${o} =\n      case ${v} do\n        "" -> :empty\n        <<"${syllables(r, 1)}", _::binary>> -> :${atom(r)}\n        _ -> :other\n      end`,
    ],
    (r, v, o) => ["bin", `${o} = String.replace(${v}, "${syllables(r, 1)}", "${syllables(r, 1)}")`],
    (r, v, o) => ["map", `${o} = %{raw: ${v}, size: byte_size(${v}), hash: :erlang.phash2(${v}, ${r.int(64, 65536)})}`],
    (_r, v, o) => ["bin", `${o} = Base.encode64(${v})`],
    (r, v, o) => ["list", `${o} = :binary.split(${v}, ["${r.pick([",", ";"])}", "${r.pick(["|", "&"])}"], [:global])`],
    (r, v, o, _c, ctx) => {
      const a = useAttr(r, ctx);
      return a === null ? ["bin", `${o} = String.slice(${v}, 0, ${r.int(8, 64)})`] : ["bin", `${o} = String.slice(${v}, 0, ${a})`];
    },
  ],
  list: [
    (r, v, o) => ["list", `${o} = Enum.map(${v}, &:erlang.phash2(&1, ${r.int(16, 4096)}))`],
    (_r, v, o) => ["map", `${o} = Enum.reduce(${v}, %{}, fn item, acc -> Map.update(acc, item, 1, &(&1 + 1)) end)`],
    (r, v, o) => ["int", `${o} = length(${v}) * ${r.int(2, 9)}`],
    (r, v, o) => ["list", `${o} = Enum.take(${v}, ${r.int(2, 30)})`],
    (_r, v, o) => ["list", `${o} = ${v} |> Enum.uniq() |> Enum.sort()`],
    (_r, v, o) => ["atom", `${o} =\n      case ${v} do\n        [] -> :none\n        [_] -> :one\n        _ -> :many\n      end`],
    (r, v, o) => ["bin", `${o} = inspect(${v}, limit: ${r.int(5, 50)})`],
    (r, v, o) => [
      "list",
      `${o} =\n      ${v}\n      |> Enum.with_index()\n      |> Enum.flat_map(fn {item, i} -> if rem(i, ${r.int(2, 5)}) == 0, do: [item], else: [] end)`,
    ],
  ],
  int: [
    (r, v, o) => ["int", `${o} = rem(${v} * ${r.int(3, 97)}, ${r.int(101, 9973)}) + div(${v}, ${r.int(2, 17)})`],
    (_r, v, o) => ["bin", `${o} = Integer.to_string(${v}, 16)`],
    (r, v, o) => [
      "atom",
      `${o} =\n      cond do\n        ${v} > ${r.int(500, 5000)} -> :large\n        ${v} > ${r.int(10, 499)} -> :medium\n        true -> :small\n      end`,
    ],
    (r, v, o) => ["list", `${o} = for i <- 1..${r.int(3, 12)}, do: i * ${v}`],
    (r, v, o) => ["int", `${o} = Bitwise.bor(Bitwise.band(${v}, 0x${r.hex(4)}), Bitwise.bsr(${v}, ${r.int(1, 7)}))`],
    (r, v, o, _c, ctx) => {
      const a = useAttr(r, ctx);
      return ["int", `${o} = min(${v}, ${a ?? r.int(100, 9999)})`];
    },
  ],
  map: [
    (_r, v, o) => ["list", `${o} = ${v} |> Map.to_list() |> Enum.sort()`],
    (r, v, o) => ["any", `${o} = Map.get(${v}, :${atom(r)}, ${r.int(0, 99)})`],
    (_r, v, o) => ["int", `${o} = map_size(${v})`],
    (r, v, o) => ["map", `${o} = Map.merge(${v}, %{${atom(r)}: ${r.int(0, 999)}})`],
    (_r, v, o) => ["map", `${o} = Map.new(${v}, fn {key, val} -> {inspect(key), val} end)`],
    (r, v, o) => [
      "int",
      `${o} =\n      case ${v} do\n        %{${atom(r)}: value} when is_integer(value) -> value\n        %{} -> ${r.int(0, 99)}\n      end`,
    ],
  ],
  any: [
    (r, v, o) => ["bin", `${o} = inspect(${v}, limit: ${r.int(5, 50)})`],
    (r, v, o) => ["map", `${o} = %{value: ${v}, kind: :${atom(r)}, weight: ${r.int(1, 100)}}`],
    (r, v, o) => ["list", `${o} = [${v} | List.duplicate(:${atom(r)}, ${r.int(1, 4)})]`],
    (r, v, o) => ["int", `${o} = :erlang.phash2(${v}, ${r.int(64, 1 << 20)})`],
    (r, v, o) => ["any", `${o} = {${v}, :${atom(r)}}`],
    (r, v, o) => ["any", `${o} = Keyword.get(opts, :${atom(r)}, ${v})`],
    (r, v, o, _c, ctx) => {
      let call: string;
      if (ctx.locals.length > 0 && r.chance(0.5)) call = `${r.pick(ctx.locals)}(${v}, opts)`;
      else if (ctx.callees.length > 0) {
        const f = r.pick(ctx.callees);
        call = `${f.module}.${f.name}(${v}, opts)`;
      } else return ["any", `${o} = {${v}, :${atom(r)}}`];
      return ["any", `${o} =\n      case ${call} do\n        {:ok, value} -> value\n        other -> other\n      end`];
    },
  ],
  atom: [
    (_r, v, o) => ["bin", `${o} = Atom.to_string(${v})`],
    (r, v, o) => [
      "int",
      // The fallback hashes the value: a fallback that forgot it would let the compiler drop
      // the distinctions an earlier binary match made, which crashes OTP 25's code generator
      // (beam_ssa_codegen, bs_skip).
      `${o} =\n      case ${v} do\n        :${atom(r)} -> ${r.int(1, 50)}\n        :${atom(r)}_x -> ${r.int(51, 99)}\n        other -> :erlang.phash2(other, 1000)\n      end`,
    ],
    (r, v, o) => ["any", `${o} = {${v}, ${r.int(0, 9)}}`],
  ],
};

function chain(r: Rng, input: string, type: VT, steps: number, c: Clause, ctx: FnCtx): { lines: string[]; out: string } {
  const lines: string[] = [];
  let v = input;
  let t = type;
  for (let i = 0; i < steps; i++) {
    const o = c.fresh("v");
    const [nt, code] = r.pick(STEPS[t])(r, v, o, c, ctx);
    lines.push(code);
    v = o;
    t = nt;
  }
  return { lines, out: v };
}

interface Pattern {
  head: string;
  guard?: string;
  v: string;
  t: VT;
}

function patterns(r: Rng, ctx: FnCtx): Pattern[] {
  const specific: (() => Pattern)[] = [
    () => ({ head: `<<"${syllables(r, 1)}${r.pick(["/", ":", "=", "-"])}", rest::binary>>`, v: "rest", t: "bin" }),
    () => ({ head: `%{"${r.pick(NOUNS)}" => value}`, guard: "is_binary(value)", v: "value", t: "bin" }),
    () => ({ head: `%{${atom(r)}_count: count}`, guard: "is_integer(count)", v: "count", t: "int" }),
    () => ({ head: `{:${atom(r)}, value}`, v: "value", t: "any" }),
    () => ({ head: `{:${atom(r)}, key, value}`, guard: "is_atom(key)", v: "value", t: "any" }),
  ];
  if (ctx.struct !== null) {
    const fields = ctx.struct;
    specific.push(() => ({ head: `%__MODULE__{${r.pick(fields)}: field}`, v: "field", t: "any" }));
  }
  const generic: (() => Pattern)[] = [
    () => ({ head: "list", guard: "is_list(list)", v: "list", t: "list" }),
    () => ({ head: "n", guard: `is_integer(n) and n >= ${r.int(0, 64)}`, v: "n", t: "int" }),
    () => ({ head: "name", guard: "is_atom(name)", v: "name", t: "atom" }),
    () => ({ head: "bin", guard: "is_binary(bin)", v: "bin", t: "bin" }),
    () => ({ head: "%{} = map", v: "map", t: "map" }),
  ];
  const seen = new Set<string>();
  const first = Array.from({ length: r.int(1, 3) }, () => r.pick(specific)()).filter((p) =>
    seen.has(p.head) ? false : (seen.add(p.head), true),
  );
  return [...first, ...r.sample(generic, r.int(1, 2)).map((k) => k())];
}

function exFunction(r: Rng, name: string, ctx: FnCtx, size: FnSize): string {
  const out: string[] = [];
  if (r.chance(0.85)) out.push(`  @doc """\n${wrap(paragraph(r, r.int(1, 3)), "  ")}\n  """`);
  else out.push("  @doc false");
  out.push(`  @spec ${name}(term(), keyword()) :: term()`);
  const withDefault = r.chance(0.4);
  if (withDefault) out.push(`  def ${name}(input, opts \\\\ [])\n`);
  for (const p of patterns(r, ctx).slice(0, size.clauses)) {
    const c = new Clause();
    const { lines, out: v } = chain(r, p.v, p.t, r.int(size.steps[0], size.steps[1]), c, ctx);
    const guard = [p.guard, "is_list(opts)"].filter((g) => g !== undefined).join(" and ");
    out.push(`  def ${name}(${p.head}, opts) when ${guard} do\n    ${[...lines, `tag(${v}, opts)`].join("\n    ")}\n  end\n`);
  }
  out.push(`  def ${name}(other, _opts), do: {:error, {:${atom(r)}, other}}`);
  return out.join("\n");
}

const TAG_FN = `  defp tag(value, opts) do
    if Keyword.get(opts, :raw, false), do: value, else: {:ok, value}
  end`;

function newFnCtx(r: Rng, callees: ExCallee[], struct: string[] | null): FnCtx {
  const attrs = new Map<string, { value: string; used: boolean }>();
  for (let i = r.int(0, 3); i > 0; i--) attrs.set(`${r.pick(NOUNS)}_limit`, { value: String(r.int(8, 4096)), used: false });
  return { locals: [], callees, attrs, struct };
}

function exFunctions(r: Rng, n: number, size: FnSize, ctx: FnCtx, scope: NameScope): { names: string[]; code: string } {
  const names: string[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = scope.take(`${r.pick(VERBS)}_${r.pick(NOUNS)}`);
    bodies.push(exFunction(r, name, ctx, size));
    ctx.locals.push(name);
    names.push(name);
  }
  return { names, code: bodies.join("\n\n") };
}

function attrLines(ctx: FnCtx): string[] {
  return [...ctx.attrs].filter(([, a]) => a.used).map(([name, a]) => `  @${name} ${a.value}`);
}

function moduledoc(r: Rng, sentences: number): string {
  return `  @moduledoc """\n${wrap(paragraph(r, sentences), "  ")}\n\n${wrap(paragraph(r, r.int(1, 3)), "  ")}\n  """`;
}

export interface ModuleOpts {
  preamble?: string[]; // lines after @moduledoc (use, @behaviour, import, ...)
  extra?: string[]; // definitions after the generated functions
  struct?: string[]; // defstruct fields
  docSentences?: number;
}

function scopeFor(reserved: string[]): NameScope {
  const s = new NameScope();
  for (const n of ["tag", ...reserved]) s.take(n);
  return s;
}

// A module of `fns` generated functions, with optional preamble and extra definitions.
export function exLibraryModule(r: Rng, name: string, fns: number, size: FnSize, ctx: ExContext, opts: ModuleOpts = {}): ExModule {
  const fctx = newFnCtx(r, ctx.callees, opts.struct ?? null);
  const reserved = [...(opts.extra ?? []).join("\n").matchAll(/\bdefp? ([a-z_][a-z0-9_]*[?!]?)/g)].map((m) => m[1]);
  const { names, code } = exFunctions(r, fns, size, fctx, scopeFor(reserved));
  const structLines = opts.struct
    ? [`  @type t :: %__MODULE__{${opts.struct.map((f) => `${f}: term()`).join(", ")}}`, `  defstruct ${opts.struct.map((f) => `${f}: nil`).join(", ")}`]
    : [];
  const source = [
    `defmodule ${name} do`,
    moduledoc(r, opts.docSentences ?? r.int(2, 5)),
    ...(opts.preamble ?? []).map((l) => (l === "" ? "" : `  ${l}`)),
    ...attrLines(fctx),
    ...structLines,
    "",
    code,
    ...(opts.extra && opts.extra.length > 0 ? ["", opts.extra.join("\n\n")] : []),
    "",
    TAG_FN,
    "end",
    "",
  ].join("\n");
  return { name, path: modulePath(name), source, callees: names.map((n) => ({ module: name, name: n })) };
}

export function exStructModule(r: Rng, name: string, fns: number, size: FnSize, ctx: ExContext): ExModule {
  const fields = r.sample(NOUNS, r.int(4, 9));
  const setters = fields.map(
    (f) => `  @doc "Sets the \`${f}\` field."\n  @spec put_${f}(t(), term()) :: t()\n  def put_${f}(%__MODULE__{} = struct, value), do: %{struct | ${f}: value}`,
  );
  const builder = `  @doc "Builds a struct from a keyword list or map, ignoring unknown keys."
  @spec new(Enumerable.t()) :: t()
  def new(fields \\\\ []) do
    Enum.reduce(fields, %__MODULE__{}, fn
${fields.map((f) => `      {:${f}, value}, acc -> put_${f}(acc, value)`).join("\n")}
      {_key, _value}, acc -> acc
    end)
  end`;
  return exLibraryModule(r, name, fns, size, ctx, { struct: fields, extra: [builder, ...setters] });
}

export function exExceptionModule(r: Rng, name: string, status: number | null): ExModule {
  const fields = status === null ? "[:message, :reason]" : `[:message, :reason, ${status === 0 ? "status: 500" : `plug_status: ${status}`}]`;
  const source = `defmodule ${name} do
  @moduledoc """
${wrap(paragraph(r, r.int(1, 2)), "  ")}
  """
  defexception ${fields}

  @impl true
  def exception(opts) when is_list(opts) do
    reason = Keyword.get(opts, :reason, :${atom(r)})
    message = Keyword.get_lazy(opts, :message, fn -> "${r.pick(NOUNS)} failed: #{inspect(reason)}" end)
    %__MODULE__{message: message, reason: reason}
  end

  def exception(message) when is_binary(message), do: %__MODULE__{message: message, reason: nil}
end
`;
  return { name, path: modulePath(name), source, callees: [] };
}

// A behaviour whose `use` injects @behaviour, defaults for optional callbacks and
// defoverridable, as most Elixir behaviours do.
export function exBehaviourModule(r: Rng, name: string, callbacks: string[], fns: number, size: FnSize, ctx: ExContext): ExModule {
  const optional = callbacks.slice(Math.ceil(callbacks.length / 2));
  const preamble = [
    ...callbacks.map((cb) => `@callback ${cb}(term(), keyword()) :: {:ok, term()} | {:error, term()}`),
    `@optional_callbacks ${optional.map((cb) => `${cb}: 2`).join(", ")}`,
    "",
    "defmacro __using__(opts) do",
    "  quote location: :keep, bind_quoted: [opts: opts] do",
    `    @behaviour ${name}`,
    `    @${name.split(".").pop()!.toLowerCase()}_opts opts`,
    "",
    ...optional.flatMap((cb) => [
      "    @impl true",
      `    def ${cb}(value, opts) do`,
      `      ${name}.default_${cb}(__MODULE__, value, Keyword.merge(@${name.split(".").pop()!.toLowerCase()}_opts, opts))`,
      "    end",
      "",
    ]),
    `    defoverridable ${optional.map((cb) => `${cb}: 2`).join(", ")}`,
    "  end",
    "end",
  ];
  const defaults = optional.map(
    (cb) => `  @doc false
  def default_${cb}(module, value, opts) do
    case Keyword.fetch(opts, :${cb}) do
      {:ok, fun} when is_function(fun, 2) -> fun.(value, opts)
      {:ok, other} -> {:error, {:bad_option, module, :${cb}, other}}
      :error -> {:ok, value}
    end
  end`,
  );
  return exLibraryModule(r, name, fns, size, ctx, { preamble, extra: defaults });
}

// A module that `use`s a behaviour of exBehaviourModule and implements its required
// callbacks, or (for an Erlang behaviour, named by an atom like ":mod") declares
// @behaviour and implements every callback.
export function exImplModule(r: Rng, name: string, behaviour: string, callbacks: string[], fns: number, size: FnSize, ctx: ExContext): ExModule {
  const erlang = behaviour.startsWith(":");
  const required = erlang ? callbacks : callbacks.slice(0, Math.ceil(callbacks.length / 2));
  const fctx = newFnCtx(r, ctx.callees, null);
  fctx.attrs.clear(); // callbacks use no attributes: only exLibraryModule declares them
  const impls = required.map((cb) => {
    const c = new Clause();
    const { lines, out } = chain(r, "value", "any", r.int(size.steps[0], size.steps[1]), c, fctx);
    return `  @impl true\n  def ${cb}(value, opts) do\n    ${[...lines, `{:ok, tag(${out}, opts)}`].join("\n    ")}\n  end`;
  });
  const head = erlang ? `@behaviour ${behaviour}` : `use ${behaviour}, ${atom(r)}: ${r.int(1, 99)}`;
  return exLibraryModule(r, name, fns, size, ctx, { preamble: [head], extra: impls });
}

// A protocol with implementations for built-in types (fallback to Any with deriving).
export function exProtocol(r: Rng, name: string, fun: string, impls: string[]): ExModule {
  const blocks = impls.map((t) => {
    const body: Record<string, string> = {
      Atom: `def ${fun}(nil, _opts), do: "null"\n    def ${fun}(value, _opts), do: Atom.to_string(value)`,
      BitString: `def ${fun}(value, opts) when is_binary(value) do\n      if Keyword.get(opts, :escape, true), do: inspect(value), else: value\n    end\n\n    def ${fun}(value, _opts), do: inspect(value)`,
      Integer: `def ${fun}(value, opts), do: Integer.to_string(value, Keyword.get(opts, :base, 10))`,
      Float: `def ${fun}(value, _opts), do: Float.to_string(value)`,
      List: `def ${fun}(list, opts) do\n      inner = Enum.map_join(list, ",", &${name}.${fun}(&1, opts))\n      "[" <> inner <> "]"\n    end`,
      Map: `def ${fun}(map, opts) do\n      inner =\n        map\n        |> Enum.sort()\n        |> Enum.map_join(",", fn {k, v} -> ${name}.${fun}(to_string(k), opts) <> ":" <> ${name}.${fun}(v, opts) end)\n\n      "{" <> inner <> "}"\n    end`,
      Tuple: `def ${fun}(tuple, opts), do: ${name}.${fun}(Tuple.to_list(tuple), opts)`,
      Date: `def ${fun}(value, _opts), do: Date.to_iso8601(value)`,
      Time: `def ${fun}(value, _opts), do: Time.to_iso8601(value)`,
      NaiveDateTime: `def ${fun}(value, _opts), do: NaiveDateTime.to_iso8601(value)`,
      DateTime: `def ${fun}(value, _opts), do: DateTime.to_iso8601(value)`,
      URI: `def ${fun}(value, opts), do: ${name}.${fun}(URI.to_string(value), opts)`,
    };
    if (t === "Any") {
      return `defimpl ${name}, for: Any do
  defmacro __deriving__(module, struct, opts) do
    fields = Keyword.get(opts, :only, Map.keys(struct) -- [:__struct__])

    quote do
      defimpl ${name}, for: unquote(module) do
        def ${fun}(value, opts) do
          value
          |> Map.take(unquote(fields))
          |> ${name}.${fun}(opts)
        end
      end
    end
  end

  def ${fun}(%{__struct__: module} = value, _opts) do
    raise Protocol.UndefinedError,
      protocol: ${name},
      value: value,
      description: "#{inspect(module)} does not derive ${name}"
  end

  def ${fun}(value, _opts) do
    raise Protocol.UndefinedError, protocol: ${name}, value: value
  end
end`;
    }
    return `defimpl ${name}, for: ${t} do\n    ${body[t] ?? `def ${fun}(value, _opts), do: inspect(value)`}\nend`;
  });
  const source = `defprotocol ${name} do
  @moduledoc """
${wrap(paragraph(r, r.int(2, 4)), "  ")}
  """
  @fallback_to_any ${impls.includes("Any")}

  @doc "${paragraph(r, 1)}"
  @spec ${fun}(t(), keyword()) :: String.t()
  def ${fun}(value, opts)
end

${blocks.join("\n\n")}
`;
  return { name, path: modulePath(name), source, callees: [] };
}

export function exGenServer(r: Rng, name: string, calls: number, size: FnSize, ctx: ExContext): ExModule {
  const scope = scopeFor(["start_link", "init", "handle_call", "handle_cast", "handle_info", "terminate"]);
  const api = Array.from({ length: calls }, () => scope.take(`${r.pick(VERBS)}_${r.pick(NOUNS)}`));
  const fctx = newFnCtx(r, ctx.callees, null);
  const field = r.pick(NOUNS);
  const clauses = api.map((a) => {
    const c = new Clause();
    const { lines, out } = chain(r, "value", r.pick(["any", "bin", "map"] as VT[]), r.int(size.steps[0], size.steps[1]), c, fctx);
    return `  def handle_call({:${a}, value}, _from, %{opts: opts} = state) do\n    ${[...lines, `{:reply, tag(${out}, opts), Map.update!(state, :calls, &(&1 + 1))}`].join("\n    ")}\n  end`;
  });
  const source = [
    `defmodule ${name} do`,
    moduledoc(r, r.int(2, 4)),
    "  use GenServer",
    "  require Logger",
    ...attrLines(fctx),
    "",
    "  @doc false",
    "  def start_link(opts) do",
    "    GenServer.start_link(__MODULE__, opts, name: Keyword.get(opts, :name, __MODULE__))",
    "  end",
    "",
    ...api.map((a) => `  @doc "${paragraph(r, 1)}"\n  def ${a}(server \\\\ __MODULE__, value), do: GenServer.call(server, {:${a}, value})\n`),
    "  @impl true",
    "  def init(opts) do",
    "    Process.flag(:trap_exit, true)",
    `    {:ok, %{opts: opts, calls: 0, ${field}: Keyword.get(opts, :${field}, ${r.int(0, 9)})}}`,
    "  end",
    "",
    "  @impl true",
    clauses.join("\n\n"),
    "",
    "  def handle_call(request, _from, state) do",
    "    {:reply, {:error, {:unknown_call, request}}, state}",
    "  end",
    "",
    "  @impl true",
    `  def handle_cast({:${field}, value}, state), do: {:noreply, %{state | ${field}: value}}`,
    "  def handle_cast(_msg, state), do: {:noreply, state}",
    "",
    "  @impl true",
    "  def handle_info({:EXIT, _pid, :normal}, state), do: {:noreply, state}",
    "",
    "  def handle_info(msg, state) do",
    '    Logger.debug("unexpected message #{inspect(msg)}")',
    "    {:noreply, state}",
    "  end",
    "",
    TAG_FN,
    "end",
    "",
  ].join("\n");
  return { name, path: modulePath(name), source, callees: [] };
}

export function exApplication(name: string, children: string[]): ExModule {
  const source = `defmodule ${name} do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [
${children.map((c) => `      {${c}, []}`).join(",\n")}
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: ${name.replace(/\.Application$/, "")}.Supervisor)
  end
end
`;
  return { name, path: modulePath(name), source, callees: [] };
}

// A Mix task (`mix <task>`) that parses switches and calls into the package.
export function exMixTask(r: Rng, task: string, fns: number, size: FnSize, ctx: ExContext): ExModule {
  const name = `Mix.Tasks.${task.split(".").map(camel).join(".")}`;
  const switches = r.sample(NOUNS, r.int(2, 6));
  const run = `  @impl true
  def run(args) do
    {opts, argv} = OptionParser.parse!(args, strict: [${switches.map((s) => `${s}: :${r.pick(["string", "boolean", "integer"])}`).join(", ")}])

    case argv do
      [] ->
        Mix.raise("mix ${task} expects at least one argument")

      [first | rest] ->
        result = ${ctx.callees.length > 0 ? (() => { const f = r.pick(ctx.callees); return `${f.module}.${f.name}(first, opts)`; })() : "{:ok, first}"}
        Mix.shell().info("#{inspect(result)} (#{length(rest)} more, options #{inspect(opts)})")
    end
  end`;
  const m = exLibraryModule(r, name, fns, size, ctx, {
    preamble: [`@shortdoc "${paragraph(r, 1).replace(/"/g, "")}"`, "use Mix.Task"],
    extra: [run],
  });
  m.path = `lib/mix/tasks/${task}.ex`; // Mix's convention: lib/mix/tasks/gen_phx.gen.thing.ex
  return m;
}

// An HTML page in EEx with assigns, loops and conditionals.
export function eexPage(r: Rng, rows: number): string {
  const body: string[] = [`<section class="${syllables(r, 2)}">`, `  <h1><%= @title %></h1>`];
  for (let i = 0; i < rows; i++) {
    const k = r.int(0, 3);
    if (k === 0) body.push(`  <p class="${syllables(r, 1)}"><%= @detail %> ${paragraph(r, 1)}</p>`);
    else if (k === 1) body.push(`  <dl>\n  <%= for {key, value} <- @entries do %>\n    <dt><%= key %></dt><dd data-${syllables(r, 1)}="<%= inspect(value) %>"><%= value %></dd>\n  <% end %>\n  </dl>`);
    else if (k === 2) body.push(`  <%= if @detail != "" do %>\n    <pre><%= String.slice(@detail, 0, ${r.int(40, 400)}) %></pre>\n  <% else %>\n    <em>${paragraph(r, 1)}</em>\n  <% end %>`);
    else body.push(`  <ul>\n    <%= for item <- Enum.take(@items, ${r.int(3, 30)}) do %>\n      <li><%= item %></li>\n    <% end %>\n  </ul>`);
  }
  body.push("</section>");
  return body.join("\n") + "\n";
}

// HTML pages compiled from EEx at compile time (EEx.function_from_string).
export function exTemplatesModule(r: Rng, name: string, pages: number, rows: number): ExModule {
  const fns: string[] = [];
  for (let p = 0; p < pages; p++) {
    const fn = `render_${r.pick(NOUNS)}_${p}`;
    const body = eexPage(r, rows).trimEnd().split("\n");
    fns.push(`  EEx.function_from_string(
    :def,
    :${fn},
    """
${body.map((l) => `    ${l}`).join("\n")}
    """,
    [:assigns]
  )`);
  }
  const source = `defmodule ${name} do
${moduledoc(r, 2)}
  require EEx

${fns.join("\n\n")}
end
`;
  return { name, path: modulePath(name), source, callees: [] };
}
