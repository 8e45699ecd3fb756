// Writes why resolution failed, from the derivation graph of the final incompatibility, the way
// PubGrub explains itself: one sentence per derivation step, "Because A and B, C.", where a
// conclusion used more than once gets a line number so later sentences can cite it.
import { ABSENT, type PackageDomain } from "./domain.ts";
import { isDerived, type Incompatibility, type Term } from "./incompatibility.ts";

export interface ExplainContext {
  domain(pkg: string): PackageDomain;
  rootName?: string; // who made the request: "hello_beacon requires ..."; default "you require ..."
}

const isNegative = (t: Term): boolean => (t.set & ABSENT) !== 0n;

function positiveText(ctx: ExplainContext, t: Term): string {
  return ctx.domain(t.pkg).termText(t.set);
}

// A negative term (its set holds "absent") forbids the package being absent or outside the
// rest; what it requires is the present releases not in its set.
function requiredText(ctx: ExplainContext, t: Term): string {
  const d = ctx.domain(t.pkg);
  return d.termText(d.present & ~t.set);
}

function joinList(items: string[], conjunction: string): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} ${conjunction} ${items[items.length - 1]}`;
}

// STANDALONE: the sentence is the whole explanation ("X, but Y." rather than "X (Y)").
export function incompatibilityText(ctx: ExplainContext, inc: Incompatibility, standalone = false): string {
  const cause = inc.cause;
  const withReason = (text: string, reason: string | undefined): string =>
    reason === undefined ? text : standalone ? `${text}, but ${reason}` : `${text} (${reason})`;
  if (cause.kind === "root") {
    const who = ctx.rootName === undefined ? "you require" : `${ctx.rootName} requires`;
    const what = cause.requirement === undefined ? cause.pkg : `${cause.pkg} ${cause.requirement}`;
    return withReason(`${who} ${what}`, cause.noMatch);
  }
  if (cause.kind === "dependency") {
    // The releases that share this dependency, by version: a requirement's text would mislead.
    const d = ctx.domain(cause.parent);
    const parentTerm = inc.terms.find((t) => t.pkg === cause.parent);
    const set = parentTerm === undefined ? d.present : parentTerm.set;
    const described = d.describe(set, false);
    const subject = described === "" ? `every version of ${cause.parent}` : `${cause.parent} ${described}`;
    const verb = cause.optional ? "optionally depends on" : "depends on";
    return withReason(`${subject} ${verb} ${cause.dep} ${cause.requirement}`, cause.noMatch);
  }
  const positive = inc.terms.filter((t) => !isNegative(t)).map((t) => positiveText(ctx, t));
  const negative = inc.terms.filter(isNegative).map((t) => requiredText(ctx, t));
  if (positive.length === 0 && negative.length === 0) return "version solving failed";
  if (negative.length === 0) {
    return positive.length === 1 ? `${positive[0]} is forbidden` : `${joinList(positive, "and")} are incompatible`;
  }
  if (positive.length === 0) {
    return negative.length === 1 ? `${negative[0]} is required` : `either ${joinList(negative, "or")} is required`;
  }
  return `${joinList(positive, "and")} ${positive.length === 1 ? "requires" : "require"} ${joinList(negative, "or")}`;
}

export function explainFailure(ctx: ExplainContext, failure: Incompatibility): string {
  if (!isDerived(failure)) return `${incompatibilityText(ctx, failure, true)}.`;
  return new Reporter(ctx, failure).write();
}

// The last of several sentences reads as the conclusion.
function conclude(text: string): string {
  for (const start of ["And because ", "Because "]) if (text.startsWith(start)) return `So, because ${text.slice(start.length)}`;
  return text.startsWith("Thus, ") ? `So, ${text.slice("Thus, ".length)}` : text;
}

class Reporter {
  readonly #ctx: ExplainContext;
  readonly #root: Incompatibility;
  readonly #uses = new Map<Incompatibility, number>(); // how often each derived one is cited
  readonly #lineNumbers = new Map<Incompatibility, number>();
  readonly #lines: { text: string; number?: number }[] = [];

  constructor(ctx: ExplainContext, root: Incompatibility) {
    this.#ctx = ctx;
    this.#root = root;
    this.#count(root);
  }

  write(): string {
    this.#visit(this.#root);
    const n = this.#lines.length;
    return this.#lines
      .map((l, i) => {
        const text = i === n - 1 && n > 1 ? conclude(l.text) : l.text;
        return l.number === undefined ? text : `${text} (${l.number})`;
      })
      .join("\n");
  }

  #count(inc: Incompatibility): void {
    if (inc.cause.kind !== "conflict") return;
    for (const c of [inc.cause.left, inc.cause.right]) {
      if (!isDerived(c)) continue;
      const seen = this.#uses.get(c) ?? 0;
      this.#uses.set(c, seen + 1);
      if (seen === 0) this.#count(c);
    }
  }

  #text(inc: Incompatibility): string {
    return incompatibilityText(this.#ctx, inc);
  }

  #emit(inc: Incompatibility, text: string, numbered: boolean): void {
    const line: { text: string; number?: number } = { text };
    if (numbered) {
      line.number = this.#lineNumbers.size + 1;
      this.#lineNumbers.set(inc, line.number);
    }
    this.#lines.push(line);
  }

  #ref(inc: Incompatibility): string {
    const n = this.#lineNumbers.get(inc);
    return n === undefined ? this.#text(inc) : `${this.#text(inc)} (${n})`;
  }

  // Both causes of INC are external: it is said in one sentence with no earlier lines.
  #oneSentence(inc: Incompatibility): boolean {
    return inc.cause.kind === "conflict" && !isDerived(inc.cause.left) && !isDerived(inc.cause.right);
  }

  #visit(inc: Incompatibility, conclusion = false): void {
    if (inc.cause.kind !== "conflict") return;
    const numbered = conclusion || (this.#uses.get(inc) ?? 0) > 1;
    const concl = this.#text(inc);
    const { left, right } = inc.cause;

    if (isDerived(left) && isDerived(right)) {
      const l1 = this.#lineNumbers.get(left);
      const l2 = this.#lineNumbers.get(right);
      if (l1 !== undefined && l2 !== undefined) {
        this.#emit(inc, `Because ${this.#ref(left)} and ${this.#ref(right)}, ${concl}.`, numbered);
      } else if (l1 !== undefined || l2 !== undefined) {
        const [cited, other] = l1 !== undefined ? [left, right] : [right, left];
        this.#visit(other);
        this.#emit(inc, `And because ${this.#ref(cited)}, ${concl}.`, numbered);
      } else if (this.#oneSentence(left) || this.#oneSentence(right)) {
        const [first, second] = this.#oneSentence(right) ? [left, right] : [right, left];
        this.#visit(first);
        this.#visit(second);
        this.#emit(inc, `Thus, ${concl}.`, numbered);
      } else {
        this.#visit(left, true);
        this.#visit(right);
        this.#emit(inc, `And because ${this.#ref(left)}, ${concl}.`, numbered);
      }
      return;
    }

    if (isDerived(left) || isDerived(right)) {
      const [derived, external] = isDerived(left) ? [left, right] : [right, left];
      if (this.#lineNumbers.has(derived)) {
        this.#emit(inc, `Because ${this.#text(external)} and ${this.#ref(derived)}, ${concl}.`, numbered);
        return;
      }
      // A single-use step that is itself "derived + external" folds into this sentence.
      const dc = derived.cause;
      if (dc.kind === "conflict" && (this.#uses.get(derived) ?? 0) <= 1) {
        const [inner, innerExternal] = isDerived(dc.left) ? [dc.left, dc.right] : [dc.right, dc.left];
        if (isDerived(inner) && !isDerived(innerExternal) && !this.#lineNumbers.has(inner)) {
          this.#visit(inner);
          this.#emit(inc, `And because ${this.#text(innerExternal)} and ${this.#text(external)}, ${concl}.`, numbered);
          return;
        }
      }
      this.#visit(derived);
      this.#emit(inc, `And because ${this.#text(external)}, ${concl}.`, numbered);
      return;
    }

    this.#emit(inc, `Because ${this.#text(left)} and ${this.#text(right)}, ${concl}.`, numbered);
  }
}
