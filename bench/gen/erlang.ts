// Erlang source for the synthetic closure: modules whose compile cost resembles real
// libraries (clause-heavy functions, binary parsers with big guard macros, lookup tables,
// gen_servers, behaviours). Everything compiles without warnings under -Werror
// +warn_export_vars +warn_shadow_vars: every variable is used, every local function is
// called, and variable names in funs and comprehensions are unique within a clause.
import { NameScope, type Rng } from "./rng.ts";
import { ADJECTIVES, NOUNS, VERBS, paragraph, syllables, wrap } from "./words.ts";

export type VT = "bin" | "list" | "int" | "map" | "any" | "atom";

// A function some generated code may call: Module:Name(Value, Opts) -> term().
export interface ErlCallee {
  module: string;
  name: string;
}

export interface ErlModule {
  name: string;
  source: string;
  // Exported arity-2 "value, options" functions that other modules may call.
  callees: ErlCallee[];
}

// What a module may use besides itself.
export interface ErlContext {
  // Functions of modules compiled before this one (same package or dependencies).
  callees: ErlCallee[];
  // Header to include with -include / -include_lib, and whether it defines the guard macros.
  include?: string;
  guardMacros?: boolean;
}

class Clause {
  private n = 0;
  fresh(prefix: string): string {
    this.n += 1;
    return `${prefix}${this.n}`;
  }
}

const atom = (r: Rng): string => r.pick([...NOUNS, ...ADJECTIVES]);

type Step = (r: Rng, v: string, o: string, c: Clause, ctx: FnCtx) => [VT, string];

interface FnCtx {
  locals: string[]; // earlier arity-2 functions of this module
  callees: ErlCallee[];
  guardMacros: boolean;
}

const STEPS: Record<VT, Step[]> = {
  bin: [
    (r, v, o) => ["list", `${o} = binary:split(${v}, [<<"${r.pick([",", ";", "/", "=", " "])}">>], [global, trim_all])`],
    (_r, v, o) => ["bin", `${o} = string:lowercase(string:trim(${v}))`],
    (r, v, o) => ["int", `${o} = byte_size(${v}) + ${r.int(1, 99)}`],
    (_r, v, o, c) => {
      const e = c.fresh("C");
      return ["bin", `${o} = << <<${e}>> || <<${e}>> <= ${v}, ${e} =/= $\\s >>`];
    },
    (r, v, o) => [
      "atom",
      `${o} = case ${v} of\n        <<>> -> empty;\n        <<"${syllables(r, 1)}", _/binary>> -> ${atom(r)};\n        _ -> other\n    end`,
    ],
    (r, v, o) => ["bin", `${o} = binary:replace(${v}, <<"${syllables(r, 1)}">>, <<"${syllables(r, 1)}">>, [global])`],
    (r, v, o) => ["map", `${o} = #{raw => ${v}, size => byte_size(${v}), hash => erlang:phash2(${v}, ${r.int(64, 65536)})}`],
    (_r, v, o) => ["bin", `${o} = base64:encode(${v})`],
    (_r, v, o, c, ctx) => {
      const e = c.fresh("T");
      return ctx.guardMacros
        ? ["list", `${o} = [${e} || <<${e}>> <= ${v}, ?GEN_IS_TOKEN(${e})]`]
        : ["list", `${o} = [${e} || <<${e}>> <= ${v}, ${e} > 32]`];
    },
  ],
  list: [
    (r, v, o, c) => {
      const e = c.fresh("E");
      return ["list", `${o} = [erlang:phash2(${e}, ${r.int(16, 4096)}) || ${e} <- ${v}]`];
    },
    (_r, v, o, c) => {
      const [f, a, k] = [c.fresh("F"), c.fresh("A"), c.fresh("K")];
      return ["map", `${o} = lists:foldl(fun(${f}, ${a}) -> maps:update_with(${f}, fun(${k}) -> ${k} + 1 end, 1, ${a}) end, #{}, ${v})`];
    },
    (r, v, o) => ["int", `${o} = length(${v}) * ${r.int(2, 9)}`],
    (r, v, o) => ["list", `${o} = lists:sublist(${v}, ${r.int(2, 30)})`],
    (_r, v, o) => ["list", `${o} = lists:usort(${v})`],
    (_r, v, o) => ["atom", `${o} = case ${v} of\n        [] -> none;\n        [_] -> one;\n        _ -> many\n    end`],
    (_r, v, o) => ["bin", `${o} = iolist_to_binary(io_lib:format("~0p", [${v}]))`],
  ],
  int: [
    (r, v, o) => ["int", `${o} = (${v} * ${r.int(3, 97)}) rem ${r.int(101, 9973)} + ${v} div ${r.int(2, 17)}`],
    (_r, v, o) => ["bin", `${o} = integer_to_binary(${v}, 16)`],
    (r, v, o) => {
      const a = r.int(500, 5000);
      return ["atom", `${o} = if\n        ${v} > ${a} -> large;\n        ${v} > ${r.int(10, 499)} -> medium;\n        true -> small\n    end`];
    },
    (r, v, o, c) => {
      const e = c.fresh("I");
      return ["list", `${o} = [${e} * ${v} || ${e} <- lists:seq(1, ${r.int(3, 12)})]`];
    },
    (r, v, o) => ["int", `${o} = (${v} band 16#${r.hex(4)}) bor (${v} bsr ${r.int(1, 7)})`],
  ],
  map: [
    (_r, v, o) => ["list", `${o} = lists:sort(maps:to_list(${v}))`],
    (r, v, o) => ["any", `${o} = maps:get(${atom(r)}, ${v}, ${r.int(0, 99)})`],
    (_r, v, o) => ["int", `${o} = map_size(${v})`],
    (r, v, o) => ["map", `${o} = maps:merge(${v}, #{${atom(r)} => ${r.int(0, 999)}})`],
    (_r, v, o, c) => {
      const [k, val, acc] = [c.fresh("K"), c.fresh("V"), c.fresh("Acc")];
      return ["list", `${o} = maps:fold(fun(${k}, ${val}, ${acc}) -> [{${k}, ${val}} | ${acc}] end, [], ${v})`];
    },
  ],
  any: [
    (_r, v, o) => ["bin", `${o} = iolist_to_binary(io_lib:format("~0p", [${v}]))`],
    (r, v, o) => ["map", `${o} = #{value => ${v}, kind => ${atom(r)}, weight => ${r.int(1, 100)}}`],
    (r, v, o) => ["list", `${o} = [${v} | lists:duplicate(${r.int(1, 4)}, ${atom(r)})]`],
    (r, v, o) => ["int", `${o} = erlang:phash2(${v}, ${r.int(64, 1 << 20)})`],
    (r, v, o) => ["any", `${o} = {${v}, ${atom(r)}}`],
    (r, v, o, _c, ctx) => {
      if (ctx.locals.length > 0 && r.chance(0.6)) return ["any", `${o} = ${r.pick(ctx.locals)}(${v}, Opts)`];
      if (ctx.callees.length > 0) {
        const f = r.pick(ctx.callees);
        return ["any", `${o} = ${f.module}:${f.name}(${v}, Opts)`];
      }
      return ["any", `${o} = {${v}, ${atom(r)}}`];
    },
  ],
  atom: [
    (_r, v, o) => ["bin", `${o} = atom_to_binary(${v}, utf8)`],
    // The fallback uses the value (see the Elixir generator: OTP 25's code generator can
    // crash when a fallback lets it drop an earlier binary match's distinctions).
    (r, v, o, c) => {
      const other = c.fresh("Other");
      return ["int", `${o} = case ${v} of\n        ${atom(r)} -> ${r.int(1, 50)};\n        ${atom(r)}_x -> ${r.int(51, 99)};\n        ${other} -> erlang:phash2(${other}, 1000)\n    end`];
    },
    (r, v, o) => ["any", `${o} = {${v}, ${r.int(0, 9)}}`],
  ],
};

// A chain of 'steps' from an input variable; each output feeds the next one, so every
// variable is used exactly where it should be.
function chain(r: Rng, input: string, type: VT, steps: number, c: Clause, ctx: FnCtx): { lines: string[]; out: string } {
  const lines: string[] = [];
  let v = input;
  let t = type;
  for (let i = 0; i < steps; i++) {
    const o = c.fresh("V");
    const [nt, code] = r.pick(STEPS[t])(r, v, o, c, ctx);
    lines.push(code);
    v = o;
    t = nt;
  }
  return { lines, out: v };
}

interface Pattern {
  head: string; // the first argument, with its guard (if any) after " when "
  guard?: string;
  v: string;
  t: VT;
}

function patterns(r: Rng, records: RecordDef[]): Pattern[] {
  const kinds: (() => Pattern)[] = [
    () => ({ head: `<<"${syllables(r, 1)}${r.pick(["/", ":", "=", "-"])}", Rest/binary>>`, v: "Rest", t: "bin" }),
    () => ({ head: `#{${atom(r)} := Value}`, guard: "is_binary(Value)", v: "Value", t: "bin" }),
    () => ({ head: `#{${atom(r)}_count := Count}`, guard: "is_integer(Count)", v: "Count", t: "int" }),
    () => ({ head: `{${atom(r)}, Value}`, v: "Value", t: "any" }),
    () => ({ head: `{${atom(r)}, Key, Value}`, guard: "is_atom(Key)", v: "Value", t: "any" }),
  ];
  if (records.length > 0) {
    kinds.push(() => {
      const rec = r.pick(records);
      return { head: `#${rec.name}{${r.pick(rec.fields)} = Field}`, v: "Field", t: "any" };
    });
  }
  const generic: (() => Pattern)[] = [
    () => ({ head: "List", guard: "is_list(List)", v: "List", t: "list" }),
    () => ({ head: "N", guard: `is_integer(N), N >= ${r.int(0, 64)}`, v: "N", t: "int" }),
    () => ({ head: "Atom", guard: "is_atom(Atom)", v: "Atom", t: "atom" }),
    () => ({ head: "Bin", guard: "is_binary(Bin)", v: "Bin", t: "bin" }),
    () => ({ head: "Map", guard: "is_map(Map)", v: "Map", t: "map" }),
  ];
  // Specific patterns first, then at most one of each guarded generic kind, so no clause is
  // shadowed by an earlier one.
  const specific = Array.from({ length: r.int(1, 3) }, () => r.pick(kinds)());
  const seen = new Set<string>();
  const unique = specific.filter((p) => (seen.has(p.head) ? false : (seen.add(p.head), true)));
  return [...unique, ...r.sample(generic, r.int(1, 2)).map((k) => k())];
}

export interface RecordDef {
  name: string;
  fields: string[];
}

export interface FnSize {
  clauses: number; // upper bound on clauses before the fallback
  steps: [number, number];
}

// One exported function Name(Value, Opts) with several clauses and a fallback.
export function erlFunction(r: Rng, name: string, ctx: FnCtx, size: FnSize, records: RecordDef[]): string {
  const out: string[] = [];
  out.push(`%% ${paragraph(r, 1)}`);
  out.push(`-spec ${name}(term(), list()) -> term().`);
  const clauses: string[] = [];
  for (const p of patterns(r, records).slice(0, size.clauses)) {
    const c = new Clause();
    const { lines, out: v } = chain(r, p.v, p.t, r.int(size.steps[0], size.steps[1]), c, ctx);
    const guard = [p.guard, "is_list(Opts)"].filter((g) => g !== undefined).join(", ");
    clauses.push(`${name}(${p.head}, Opts) when ${guard} ->\n    ${[...lines, `tag(${v}, Opts)`].join(",\n    ")}`);
  }
  clauses.push(`${name}(Other, _Opts) ->\n    {error, {${atom(r)}, Other}}`);
  out.push(clauses.join(";\n") + ".");
  return out.join("\n");
}

const TAG_FN = `tag(Value, Opts) ->
    case proplists:get_bool(raw, Opts) of
        true -> Value;
        false -> {ok, Value}
    end.`;

function header(r: Rng, module: string, extra: string[] = []): string {
  return [`%% ${module}: ${paragraph(r, 1)}`, wrap(paragraph(r, 2), "%% "), `-module(${module}).`, ...extra].join("\n");
}

function includeLine(ctx: ErlContext): string[] {
  if (ctx.include === undefined) return [];
  return ctx.include.includes("/") ? [`-include_lib("${ctx.include}").`] : [`-include("${ctx.include}").`];
}

function fnNames(r: Rng, n: number, scope: NameScope): string[] {
  return Array.from({ length: n }, () => scope.take(`${r.pick(VERBS)}_${r.pick(NOUNS)}`));
}

// `n` exported arity-2 functions; tag/2 (not exported) must be in the same module.
function erlFunctions(r: Rng, n: number, size: FnSize, ctx: ErlContext, records: RecordDef[], scope: NameScope): { names: string[]; code: string } {
  const names = fnNames(r, n, scope);
  const fctx: FnCtx = { locals: [], callees: ctx.callees, guardMacros: ctx.guardMacros ?? false };
  const bodies: string[] = [];
  for (const name of names) {
    bodies.push(erlFunction(r, name, fctx, size, records));
    fctx.locals.push(name);
  }
  return { names, code: bodies.join("\n\n") };
}

function newScope(reserved: string[] = []): NameScope {
  const scope = new NameScope();
  for (const n of ["tag", ...reserved]) scope.take(n);
  return scope;
}

// A library module: `fns` exported arity-2 functions (plus tag/2).
export function erlLibraryModule(r: Rng, module: string, fns: number, size: FnSize, ctx: ErlContext, records: RecordDef[] = []): ErlModule {
  const { names, code } = erlFunctions(r, fns, size, ctx, records, newScope());
  const source = [
    header(r, module, includeLine(ctx)),
    "",
    `-export([${names.map((n) => `${n}/2`).join(", ")}]).`,
    "",
    code,
    "",
    TAG_FN,
    "",
  ].join("\n");
  return { name: module, source, callees: names.map((name) => ({ module, name })) };
}

// A cowlib-style parser module: recursive binary parsers driven by the guard and
// case-folding macros of the package header, plus library functions. Parsers are arity 1
// and their helpers carry suffixes no library function has, so the names never clash.
export function erlParserModule(r: Rng, module: string, parsers: number, fns: number, size: FnSize, ctx: ErlContext, records: RecordDef[] = []): ErlModule {
  if (!ctx.guardMacros) throw new Error(`${module}: parser modules need the guard macros`);
  const pscope = new NameScope();
  const parserNames = Array.from({ length: parsers }, () => pscope.take(`parse_${r.pick(NOUNS)}`));
  const { names, code } = erlFunctions(r, fns, size, ctx, records, newScope());
  const source = [
    header(r, module, includeLine(ctx)),
    "",
    `-export([${parserNames.map((p) => `${p}/1`).join(", ")}]).`,
    `-export([${names.map((n) => `${n}/2`).join(", ")}]).`,
    "",
    parserNames.map((p) => parserFunction(r, p)).join("\n\n"),
    "",
    code,
    "",
    TAG_FN,
    "",
  ].join("\n");
  return { name: module, source, callees: names.map((name) => ({ module, name })) };
}

function parserFunction(r: Rng, name: string): string {
  const sep = r.pick([",", ";", "/"]);
  const kind = r.int(0, 2);
  if (kind === 0) {
    // A comma-separated list of lowercased tokens.
    return `%% ${paragraph(r, 1)}
-spec ${name}(binary()) -> [binary()].
${name}(Data) ->
    ${name}(Data, <<>>, []).

${name}(<<>>, <<>>, Acc) ->
    lists:reverse(Acc);
${name}(<<>>, Token, Acc) ->
    lists:reverse([Token | Acc]);
${name}(<<C, Rest/bits>>, Token, Acc) when ?GEN_IS_WS(C) ->
    ${name}(Rest, Token, Acc);
${name}(<<$${sep}, Rest/bits>>, <<>>, Acc) ->
    ${name}(Rest, <<>>, Acc);
${name}(<<$${sep}, Rest/bits>>, Token, Acc) ->
    ${name}(Rest, <<>>, [Token | Acc]);
${name}(<<C, Rest/bits>>, Token, Acc) when ?GEN_IS_TOKEN(C) ->
    ?GEN_LOWER(${name}, Rest, Token, Acc);
${name}(<<C, _/bits>>, _, _) ->
    error({badchar, C}).`;
  }
  if (kind === 1) {
    // key=value parameters with an integer or token value.
    return `%% ${paragraph(r, 1)}
-spec ${name}(binary()) -> [{binary(), binary() | integer()}].
${name}(Data) ->
    ${name}_key(Data, <<>>, []).

${name}_key(<<>>, <<>>, Acc) ->
    lists:reverse(Acc);
${name}_key(<<C, Rest/bits>>, Key, Acc) when ?GEN_IS_WS(C) ->
    ${name}_key(Rest, Key, Acc);
${name}_key(<<$=, Rest/bits>>, Key, Acc) when Key =/= <<>> ->
    ${name}_value(Rest, Key, 0, <<>>, Acc);
${name}_key(<<C, Rest/bits>>, Key, Acc) when ?GEN_IS_TOKEN(C) ->
    ?GEN_LOWER(${name}_key, Rest, Key, Acc);
${name}_key(<<C, _/bits>>, _, _) ->
    error({badkey, C}).

${name}_value(<<C, Rest/bits>>, Key, N, <<>>, Acc) when ?GEN_IS_DIGIT(C) ->
    ${name}_value(Rest, Key, N * 10 + (C - $0), <<>>, Acc);
${name}_value(<<$${sep}, Rest/bits>>, Key, N, <<>>, Acc) ->
    ${name}_key(Rest, <<>>, [{Key, N} | Acc]);
${name}_value(<<$${sep}, Rest/bits>>, Key, _, Value, Acc) ->
    ${name}_key(Rest, <<>>, [{Key, Value} | Acc]);
${name}_value(<<C, Rest/bits>>, Key, N, Value, Acc) when ?GEN_IS_TOKEN(C) ->
    ${name}_value(Rest, Key, N, <<Value/binary, C>>, Acc);
${name}_value(<<>>, Key, N, <<>>, Acc) ->
    lists:reverse([{Key, N} | Acc]);
${name}_value(<<>>, Key, _, Value, Acc) ->
    lists:reverse([{Key, Value} | Acc]);
${name}_value(<<C, _/bits>>, _, _, _, _) ->
    error({badvalue, C}).`;
  }
  // A quoted string with escapes, then an optional ;q= weight.
  return `%% ${paragraph(r, 1)}
-spec ${name}(binary()) -> {binary(), 0..1000}.
${name}(<<$", Rest/bits>>) ->
    ${name}_quoted(Rest, <<>>);
${name}(Data) ->
    ${name}_weight(Data, <<>>).

${name}_quoted(<<$\\\\, C, Rest/bits>>, Acc) when ?GEN_IS_VCHAR(C) ->
    ${name}_quoted(Rest, <<Acc/binary, C>>);
${name}_quoted(<<$", Rest/bits>>, Acc) ->
    {Acc, ${name}_q(Rest)};
${name}_quoted(<<C, Rest/bits>>, Acc) when ?GEN_IS_VCHAR(C); ?GEN_IS_WS(C) ->
    ${name}_quoted(Rest, <<Acc/binary, C>>).

${name}_weight(<<";q=", Rest/bits>>, Acc) ->
    {Acc, ${name}_q(<<";q=", Rest/binary>>)};
${name}_weight(<<C, Rest/bits>>, Acc) when ?GEN_IS_TOKEN(C) ->
    ${name}_weight(Rest, <<Acc/binary, C>>);
${name}_weight(<<>>, Acc) ->
    {Acc, 1000}.

${name}_q(<<";q=0">>) -> 0;
${name}_q(<<";q=1">>) -> 1000;
${name}_q(<<";q=1.", Z/bits>>) when Z =:= <<"0">>; Z =:= <<"00">>; Z =:= <<"000">> -> 1000;
${name}_q(<<";q=0.", A, B, C>>) when ?GEN_IS_DIGIT(A), ?GEN_IS_DIGIT(B), ?GEN_IS_DIGIT(C) ->
    (A - $0) * 100 + (B - $0) * 10 + (C - $0);
${name}_q(<<";q=0.", A, B>>) when ?GEN_IS_DIGIT(A), ?GEN_IS_DIGIT(B) ->
    (A - $0) * 100 + (B - $0) * 10;
${name}_q(<<";q=0.", A>>) when ?GEN_IS_DIGIT(A) ->
    (A - $0) * 100;
${name}_q(<<>>) -> 1000.`;
}

// The package header with cowlib-style guard macros: big boolean guards and a case-folding
// macro that expands to a 27-branch case at every use.
export function erlGuardHeader(guardPrefix: string, records: RecordDef[]): string {
  const chars = (s: string) => [...s].map((c) => `(C =:= $${c === "\\" ? "\\\\" : c})`).join(" orelse ");
  const lower = "abcdefghijklmnopqrstuvwxyz";
  const cases = [...lower.toUpperCase()].map((u, i) => `    $${u} -> F(R, <<T/binary, $${lower[i]}>>, A);`).join("\n");
  const recs = records.map((rec) => `-record(${rec.name}, {\n    ${rec.fields.map((f, i) => (i % 3 === 0 ? `${f} = undefined` : f)).join(",\n    ")}\n}).`);
  return [
    `%% Guard and case-folding macros of ${guardPrefix}, for parsers.`,
    "",
    `-ifndef(${guardPrefix.toUpperCase()}_HRL).`,
    `-define(${guardPrefix.toUpperCase()}_HRL, 1).`,
    "",
    `-define(GEN_IS_ALPHA(C), ((C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z))).`,
    `-define(GEN_IS_DIGIT(C), (C >= $0 andalso C =< $9)).`,
    `-define(GEN_IS_WS(C), (C =:= $\\s orelse C =:= $\\t)).`,
    `-define(GEN_IS_VCHAR(C), (C >= 33 andalso C =< 126)).`,
    `-define(GEN_IS_TOKEN(C), (?GEN_IS_ALPHA(C) orelse ?GEN_IS_DIGIT(C) orelse ${chars("!#$%&'*+-.^_`|~")})).`,
    `-define(GEN_IS_URI_UNRESERVED(C), (?GEN_IS_ALPHA(C) orelse ?GEN_IS_DIGIT(C) orelse ${chars("-._~")})).`,
    "",
    `-define(GEN_LOWER(F, R, T, A), case C of\n${cases}\n    _ -> F(R, <<T/binary, C>>, A)\nend).`,
    "",
    ...recs,
    "",
    "-endif.",
    "",
  ].join("\n");
}

// A big lookup table (cow_mimetypes-style): one clause per key.
export function erlTableModule(r: Rng, module: string, entries: number): ErlModule {
  const exts = new NameScope();
  const rows: string[] = [];
  for (let i = 0; i < entries; i++) {
    const ext = exts.take(syllables(r, r.int(1, 2))).replace(/_/g, "");
    if (rows.some((row) => row.startsWith(`lookup(<<"${ext}">>)`))) continue;
    rows.push(`lookup(<<"${ext}">>) -> {<<"${r.pick(["application", "text", "image", "audio", "video", "font"])}">>, <<"${syllables(r, r.int(1, 3))}">>, []};`);
  }
  const codes = Array.from({ length: 256 }, (_, i) => `code(${i}) -> {${r.int(0, 1 << 20)}, ${r.int(5, 30)}};`);
  const source = [
    header(r, module),
    "",
    "-export([lookup/1, lookup/2, code/1]).",
    "",
    `%% ${paragraph(r, 1)}`,
    "-spec lookup(binary(), list()) -> {binary(), binary(), list()}.",
    "lookup(Path, Opts) when is_list(Opts) ->",
    "    case filename:extension(Path) of",
    "        <<>> -> proplists:get_value(default, Opts, {<<\"application\">>, <<\"octet-stream\">>, []});",
    "        <<$., Ext/binary>> -> lookup(string:lowercase(Ext))",
    "    end.",
    "",
    "-spec lookup(binary()) -> {binary(), binary(), list()}.",
    ...rows,
    `lookup(_) -> {<<"application">>, <<"octet-stream">>, []}.`,
    "",
    "-spec code(0..255) -> {non_neg_integer(), pos_integer()}.",
    ...codes.slice(0, -1),
    codes[codes.length - 1].replace(/;$/, "."),
    "",
  ].join("\n");
  return { name: module, source, callees: [{ module, name: "lookup" }] };
}

// A gen_server with a few API calls, each handled by a generated chain.
export function erlGenServer(r: Rng, module: string, calls: number, size: FnSize, ctx: ErlContext): ErlModule {
  const scope = new NameScope();
  for (const n of ["start_link", "init", "handle_call", "handle_cast", "handle_info", "terminate", "code_change", "tag"]) scope.take(n);
  const api = fnNames(r, calls, scope);
  const fields = r.sample(NOUNS, 4).map((f) => `${f}_count`);
  const fctx: FnCtx = { locals: [], callees: ctx.callees, guardMacros: ctx.guardMacros ?? false };
  const handlers = api.map((a) => {
    const c = new Clause();
    const { lines, out } = chain(r, "Arg", r.pick(["any", "bin", "map"] as VT[]), r.int(size.steps[0], size.steps[1]), c, { ...fctx, callees: [] });
    const f = r.pick(fields);
    return `handle_call({${a}, Arg}, _From, State = #state{${f} = N0}) ->\n    Opts = State#state.opts,\n    ${[...lines, `{reply, tag(${out}, Opts), State#state{${f} = N0 + 1}}`].join(",\n    ")}`;
  });
  const source = [
    header(r, module, includeLine(ctx)),
    "-behaviour(gen_server).",
    "",
    `-export([start_link/1, ${api.map((a) => `${a}/1`).join(", ")}]).`,
    "-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).",
    "",
    `-record(state, {opts = [] :: list(), ${fields.map((f) => `${f} = 0 :: non_neg_integer()`).join(", ")}}).`,
    "",
    "-spec start_link(list()) -> {ok, pid()} | ignore | {error, term()}.",
    "start_link(Opts) ->",
    "    gen_server:start_link({local, ?MODULE}, ?MODULE, Opts, []).",
    "",
    ...api.map((a) => `%% ${paragraph(r, 1)}\n-spec ${a}(term()) -> term().\n${a}(Arg) ->\n    gen_server:call(?MODULE, {${a}, Arg}).\n`),
    "init(Opts) ->",
    "    process_flag(trap_exit, true),",
    "    {ok, #state{opts = Opts}}.",
    "",
    [...handlers, "handle_call(_Request, _From, State) ->\n    {reply, {error, unknown_call}, State}"].join(";\n") + ".",
    "",
    `handle_cast({${r.pick(VERBS)}, _Arg}, State = #state{${fields[0]} = N}) ->\n    {noreply, State#state{${fields[0]} = N + 1}};`,
    "handle_cast(_Msg, State) ->\n    {noreply, State}.",
    "",
    "handle_info({'EXIT', _Pid, normal}, State) ->\n    {noreply, State};",
    "handle_info({'EXIT', _Pid, Reason}, State) ->\n    {stop, Reason, State};",
    "handle_info(_Info, State) ->\n    {noreply, State}.",
    "",
    "terminate(_Reason, _State) ->\n    ok.",
    "",
    "code_change(_OldVsn, State, _Extra) ->\n    {ok, State}.",
    "",
    TAG_FN,
    "",
  ].join("\n");
  return { name: module, source, callees: [] };
}

export function erlSupervisor(r: Rng, module: string, children: string[]): ErlModule {
  const specs = children.map((c) => `#{id => ${c}, start => {${c}, start_link, [[]]}, restart => permanent, shutdown => 5000, type => worker, modules => [${c}]}`);
  const source = [
    header(r, module),
    "-behaviour(supervisor).",
    "",
    "-export([start_link/0, init/1]).",
    "",
    "-spec start_link() -> {ok, pid()} | ignore | {error, term()}.",
    "start_link() ->",
    "    supervisor:start_link({local, ?MODULE}, ?MODULE, []).",
    "",
    "init([]) ->",
    `    SupFlags = #{strategy => one_for_one, intensity => ${r.int(1, 10)}, period => ${r.int(5, 60)}},`,
    `    Children = [${specs.join(",\n        ")}],`,
    "    {ok, {SupFlags, Children}}.",
    "",
  ].join("\n");
  return { name: module, source, callees: [] };
}

export function erlApplication(r: Rng, module: string, sup: string): ErlModule {
  const source = [
    header(r, module),
    "-behaviour(application).",
    "",
    "-export([start/2, stop/1]).",
    "",
    "start(_StartType, _StartArgs) ->",
    `    ${sup}:start_link().`,
    "",
    "stop(_State) ->",
    "    ok.",
    "",
  ].join("\n");
  return { name: module, source, callees: [] };
}

// A behaviour: callbacks plus exported functions that dispatch to an implementation.
export function erlBehaviour(r: Rng, module: string, callbacks: string[]): ErlModule {
  const source = [
    header(r, module),
    "",
    ...callbacks.map((cb) => `-callback ${cb}(term(), list()) -> {ok, term()} | {error, term()}.`),
    `-optional_callbacks([${callbacks[callbacks.length - 1]}/2]).`,
    "",
    `-export([${callbacks.map((cb) => `run_${cb}/3`).join(", ")}]).`,
    "",
    ...callbacks.map(
      (cb) => `%% ${paragraph(r, 1)}
-spec run_${cb}(module(), term(), list()) -> {ok, term()} | {error, term()}.
run_${cb}(Mod, Value, Opts) ->
    case erlang:function_exported(Mod, ${cb}, 2) of
        true ->
            try Mod:${cb}(Value, Opts) of
                {ok, _} = Ok -> Ok;
                {error, _} = Error -> Error;
                Other -> {error, {bad_return, Mod, ${cb}, Other}}
            catch
                Class:Reason:Stacktrace ->
                    {error, {Class, Reason, Stacktrace}}
            end;
        false ->
            {error, {undef, Mod, ${cb}}}
    end.
`,
    ),
  ].join("\n");
  return { name: module, source, callees: [] };
}

// An implementation of a behaviour, plus library functions and a receive loop over a record.
export function erlHandlerModule(r: Rng, module: string, behaviour: string, callbacks: string[], fns: number, size: FnSize, ctx: ErlContext, records: RecordDef[] = []): ErlModule {
  const scope = newScope(callbacks);
  const loop = scope.take(`${r.pick(VERBS)}_loop`);
  const { names, code } = erlFunctions(r, fns, size, ctx, records, scope);
  const fctx: FnCtx = { locals: names, callees: ctx.callees, guardMacros: ctx.guardMacros ?? false };
  const impls = callbacks.map((cb) => {
    const c = new Clause();
    const { lines, out } = chain(r, "Value", "any", r.int(size.steps[0], size.steps[1]), c, fctx);
    return `${cb}(Value, Opts) ->\n    ${[...lines, `{ok, tag(${out}, Opts)}`].join(",\n    ")}.`;
  });
  const fields = r.sample(NOUNS.filter((n) => n !== "buffer"), 5); // buffer and count are fixed fields
  const msgs = r.sample(VERBS, 3);
  const source = [
    header(r, module, includeLine(ctx)),
    `-behaviour(${behaviour}).`,
    "",
    `-export([${callbacks.map((cb) => `${cb}/2`).join(", ")}]).`,
    `-export([${loop}/2]).`,
    `-export([${names.map((n) => `${n}/2`).join(", ")}]).`,
    "",
    `-record(loop_state, {buffer = <<>> :: binary(), ${fields.map((f) => `${f} = undefined :: term()`).join(", ")}, count = 0 :: non_neg_integer()}).`,
    "",
    code,
    "",
    impls.join("\n\n"),
    "",
    `%% ${paragraph(r, 1)}`,
    `-spec ${loop}(list(), timeout()) -> {ok, non_neg_integer(), binary()} | {error, term()}.`,
    `${loop}(Opts, Timeout) ->`,
    `    ${loop}(#loop_state{${fields[0]} = Opts}, Timeout, Opts).`,
    "",
    `${loop}(State = #loop_state{buffer = Buffer, count = Count}, Timeout, Opts) ->`,
    "    receive",
    `        {data, Data} when is_binary(Data) ->`,
    `            ${loop}(State#loop_state{buffer = <<Buffer/binary, Data/binary>>, count = Count + 1}, Timeout, Opts);`,
    ...msgs.map(
      (m, i) => `        {${m}, Ref, Value} when is_reference(Ref) ->\n            ${loop}(State#loop_state{${fields[(i + 1) % fields.length]} = {Ref, Value}}, Timeout, Opts);`,
    ),
    "        stop ->",
    "            {ok, Count, Buffer}",
    "    after Timeout ->",
    `        {error, {timeout, State#loop_state.${fields[1]}}}`,
    "    end.",
    "",
    TAG_FN,
    "",
  ].join("\n");
  return { name: module, source, callees: names.map((name) => ({ module, name })) };
}
