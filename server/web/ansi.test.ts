// The log renderer: colours to classed spans, everything else escaped, error lines marked.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnsiHtml, escapeHtml } from "./ansi.js";

test("SGR colours become spans; the style carries over to the next line until reset", () => {
  const a = new AnsiHtml();
  assert.is(a.line("\x1b[1;32mok\x1b[0m done"), '<span class="f2 a-b">ok</span> done');
  assert.is(a.line("\x1b[31mred"), '<span class="f1">red</span>');
  assert.is(a.line("still red\x1b[39m plain"), '<span class="f1">still red</span> plain');
  assert.is(
    a.line("\x1b[38;5;12mbright\x1b[48;5;200m\x1b[38;2;1;2;3mtrue\x1b[m"),
    '<span class="f12">bright</span><span class="f12">true</span>',
  );
});

test("text is escaped, other escapes and control characters dropped, CR keeps the last overwrite", () => {
  const a = new AnsiHtml();
  assert.is(
    a.line(`<script>alert("x")</script> & 'y'`),
    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;",
  );
  assert.is(a.line("\x1b]0;title\x07a\x1b[2Kb\x07c\x08"), "abc");
  assert.is(a.line("10%\r50%\r100%"), "100%");
  assert.is(a.line("done\r"), "done");
  assert.is(a.line("\x1b[31m<b>\x1b[0m"), '<span class="f1">&lt;b&gt;</span>');
});

test("error-looking lines are marked for jump-to-first-error; words that merely contain it are not", () => {
  const a = new AnsiHtml();
  assert.is(
    a.line("error: builder for 'x' failed"),
    `<span class="err-line">error: builder for &#39;x&#39; failed</span>`,
  );
  assert.is(a.line("src/a.c:3: Error: no"), '<span class="err-line">src/a.c:3: Error: no</span>');
  assert.is(a.line("compiling errors.c and stderror.h"), "compiling errors.c and stderror.h");
  assert.is(a.lines("a\nerror: b\nc"), 'a\n<span class="err-line">error: b</span>\nc');
  assert.is(escapeHtml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
  assert.is(
    a.line("warning: you did not specify '--add-root'"),
    `<span class="warn-line">warning: you did not specify &#39;--add-root&#39;</span>`,
  );
});

test.run();
