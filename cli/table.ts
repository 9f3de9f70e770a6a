// Aligned columns for people to read; scripts use --json instead.
import { bold } from "./output.js";

export type Cell = string | number | null | undefined;

/** Columns separated by two spaces, padded to the widest cell; empty cells show as "-". */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => headers.map((_, i) => cellText(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => visibleLength(row[i] ?? ""))));
  const pad = (cell: string, i: number) =>
    cell + " ".repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(cell)));
  const line = (cells: string[], style: (s: string) => string = (s) => s) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? style(cell) : style(pad(cell, i))))
      .join("  ")
      .trimEnd();
  return [
    line(
      headers.map((h) => h.toUpperCase()),
      bold,
    ),
    ...text.map((row) => line(row)),
  ].join("\n");
}

/** Prints a table, or `empty` when there are no rows (a bare header line reads like an error). */
export function printTable(headers: string[], rows: Cell[][], empty: string): void {
  process.stdout.write(rows.length === 0 ? `${empty}\n` : `${formatTable(headers, rows)}\n`);
}

// Cells may be coloured: escape codes take no room on screen, so they must not count toward a column's width.
function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point
  return text.replace(/\x1b\[[0-9;]*m/g, "").length;
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined || cell === "") return "-";
  return String(cell);
}
