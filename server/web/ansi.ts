// Build logs → HTML: ANSI SGR colours become classed spans, everything else is escaped text. Pure; fed whole
// lines by the caller (the build page, pages/build.tsx), with the colour state carried from one line to the next.

interface Style {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const plain = (): Style => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });

const escapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => escapes[ch] ?? ch);
}

/** A line that reads like a failure (Nix's `error: builder for … failed`, a compiler's `error:`): marked for "jump to first error". */
export const errorLine = /(^|[^\w-])(error|fatal|failed|FAIL)\b/i;
/** A warning (Nix's `warning: …`, a compiler's): tinted, not an error. */
export const warningLine = /(^|[^\w-])warning\b/i;

// CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), and lone two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
const escapeSeq = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

function classesOf(s: Style): string {
  const c: string[] = [];
  if (s.fg !== null) c.push(`f${s.fg}`);
  if (s.bg !== null) c.push(`b${s.bg}`);
  if (s.bold) c.push("a-b");
  if (s.dim) c.push("a-d");
  if (s.italic) c.push("a-i");
  if (s.underline) c.push("a-u");
  return c.join(" ");
}

function applySgr(style: Style, params: string): void {
  const codes = params === "" ? [0] : params.split(";").map((p) => (p === "" ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const n = codes[i] ?? 0;
    if (n === 0) Object.assign(style, plain());
    else if (n === 1) style.bold = true;
    else if (n === 2) style.dim = true;
    else if (n === 3) style.italic = true;
    else if (n === 4) style.underline = true;
    else if (n === 22) style.bold = style.dim = false;
    else if (n === 23) style.italic = false;
    else if (n === 24) style.underline = false;
    else if (n >= 30 && n <= 37) style.fg = n - 30;
    else if (n >= 90 && n <= 97) style.fg = n - 90 + 8;
    else if (n === 39) style.fg = null;
    else if (n >= 40 && n <= 47) style.bg = n - 40;
    else if (n >= 100 && n <= 107) style.bg = n - 100;
    else if (n === 49) style.bg = null;
    else if (n === 38 || n === 48) {
      // 256-colour (5;N): the 16 base colours map to our classes; others and true colour (2;R;G;B) are dropped
      // (no inline styles under the pages' CSP).
      const mode = codes[i + 1];
      if (mode === 5) {
        const v = codes[i + 2] ?? 0;
        if (v < 16) {
          if (n === 38) style.fg = v;
          else style.bg = v % 8;
        }
        i += 2;
      } else if (mode === 2) i += 4;
    }
  }
}

export class AnsiHtml {
  #style = plain();

  /** One line (without its newline) → escaped HTML with colour spans; error-looking lines wrapped in `.err-line`. */
  line(raw: string): string {
    // A carriage return without a newline overwrote the line on a terminal: keep what was written last.
    const cr = raw.lastIndexOf("\r");
    const text = cr >= 0 && cr < raw.length - 1 ? raw.slice(cr + 1) : raw.replace(/\r$/, "");
    let html = "";
    let visible = "";
    let last = 0;
    const emit = (chunk: string) => {
      if (!chunk) return;
      visible += chunk;
      const cls = classesOf(this.#style);
      html += cls ? `<span class="${cls}">${escapeHtml(chunk)}</span>` : escapeHtml(chunk);
    };
    escapeSeq.lastIndex = 0;
    for (let m = escapeSeq.exec(text); m; m = escapeSeq.exec(text)) {
      emit(text.slice(last, m.index));
      if (m[2] === "m") applySgr(this.#style, m[1] ?? "");
      last = m.index + m[0].length;
    }
    emit(text.slice(last));
    // Other control characters (BEL, backspace, …) would only confuse the page.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
    html = html.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    if (errorLine.test(visible)) return `<span class="err-line">${html}</span>`;
    return warningLine.test(visible) ? `<span class="warn-line">${html}</span>` : html;
  }

  /** Whole lines of text (each ending in \n, except perhaps the last) → HTML, newlines kept. */
  lines(text: string): string {
    const parts = text.split("\n");
    const tail = parts.pop() ?? "";
    let out = "";
    for (const p of parts) out += `${this.line(p)}\n`;
    if (tail) out += this.line(tail);
    return out;
  }
}
