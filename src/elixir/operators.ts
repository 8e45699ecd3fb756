// Elixir's operator atoms, as its tokenizer reads them and Macro.inspect_atom writes them: shared
// by the literal reader (literal.ts) and the printer (inspect.ts).

// Operator atoms that Elixir writes without quotes (`:+`, `:%{}`), longest first so that
// `:<<>>` is not read as `:<<` followed by `>>`.
export const UNQUOTED_OPERATORS = [
  "..//", "<<>>", "===", "!==", "<<<", ">>>", "<<~", "~>>", "<~>", "|||", "&&&", "+++", "---",
  "...", "%{}", "\\\\", "<-", "||", "&&", "==", "!=", "=~", "<=", ">=", "|>", "<~", "~>", "++",
  "--", "..", "<>", "**", "->", "{}", "&", "!", "^", "+", "-", "@", "|", "=", "<", ">", "*",
  "/", ".", "%",
];
// Word operators are also printed bare, but they read as ordinary identifiers anyway.
export const WORD_OPERATORS = new Set(["not", "when", "or", "and", "in"]);
export const QUOTED_OPERATORS = new Set(["::", "^^^", "~~~", "<|>"]);
