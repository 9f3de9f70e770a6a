/**
 * Reads a `.drv` file (Nix's ATerm form: `Derive([outputs],[inputDrvs],[inputSrcs],system,builder,[args],[env])`).
 * The evaluator needs the input derivations (to order builds) and `requiredSystemFeatures` (to match builders).
 */

export interface Derivation {
  /** Output name → store path (empty for content-addressed outputs not yet known). */
  outputs: Record<string, string>;
  /** Input .drv path → the outputs of it that are used. */
  inputDrvs: Record<string, string[]>;
  inputSrcs: string[];
  system: string;
  builder: string;
  args: string[];
  env: Record<string, string>;
}

/** The text is not a derivation in ATerm form; `offset` is where reading stopped. */
export class DerivationFormatError extends Error {
  override name = "DerivationFormatError";
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
  }
}

type Term = string | Term[];

const escapes: Record<string, string> = { n: "\n", r: "\r", t: "\t" };

/** Parses the derivation's ATerm text. */
export function parseDerivation(text: string): Derivation {
  let i = 0;
  const fail = (what: string): never => {
    throw new DerivationFormatError(what, i);
  };
  const expect = (s: string) => {
    if (!text.startsWith(s, i)) fail(`expected ${JSON.stringify(s)}`);
    i += s.length;
  };
  const str = (): string => {
    expect('"');
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i++] as string;
      if (c === '"') return out;
      if (c === "\\") {
        const e = text[i++];
        if (e === undefined) fail("unterminated escape");
        out += escapes[e as string] ?? e;
      } else out += c;
    }
  };
  // Lists `[...]` and tuples `(...)` both become arrays: the shape is checked where each is used.
  const term = (): Term => {
    const c = text[i];
    if (c === '"') return str();
    if (c !== "[" && c !== "(") return fail("expected a string, list or tuple");
    const close = c === "[" ? "]" : ")";
    i++;
    const items: Term[] = [];
    if (text[i] === close) {
      i++;
      return items;
    }
    for (;;) {
      items.push(term());
      if (text[i] === ",") i++;
      else if (text[i] === close) {
        i++;
        return items;
      } else fail(`expected "," or "${close}"`);
    }
  };

  expect("Derive");
  const top = term();
  if (i !== text.trimEnd().length) fail("trailing data after the derivation");
  if (!Array.isArray(top) || top.length !== 7) return fail("a derivation has 7 fields");
  const [outs, drvs, srcs, system, builder, args, env] = top as Term[];
  const strings = (t: Term | undefined, what: string): string[] => {
    if (!Array.isArray(t) || t.some((x) => typeof x !== "string")) return fail(`${what} must be strings`);
    return t as string[];
  };
  const tuples = (t: Term | undefined, what: string): Term[][] => {
    if (!Array.isArray(t) || t.some((x) => !Array.isArray(x))) return fail(`${what} must be tuples`);
    return t as Term[][];
  };
  const text1 = (t: Term | undefined, what: string): string => {
    if (typeof t !== "string") return fail(`${what} must be a string`);
    return t;
  };
  return {
    outputs: Object.fromEntries(
      tuples(outs, "outputs").map((o) => [text1(o[0], "output name"), text1(o[1], "output path")]),
    ),
    inputDrvs: Object.fromEntries(
      tuples(drvs, "input derivations").map((d) => [
        text1(d[0], "input drv"),
        strings(d[1], "input outputs"),
      ]),
    ),
    inputSrcs: strings(srcs, "input sources"),
    system: text1(system, "system"),
    builder: text1(builder, "builder"),
    args: strings(args, "args"),
    env: Object.fromEntries(
      tuples(env, "env").map((e) => [text1(e[0], "env name"), text1(e[1], "env value")]),
    ),
  };
}

/** `requiredSystemFeatures`, a space-separated list in the derivation's environment. */
export function requiredFeatures(drv: Derivation): string[] {
  return (drv.env.requiredSystemFeatures ?? "").split(/\s+/).filter((f) => f !== "");
}
