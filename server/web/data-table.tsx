// The table every list shows: column heads, one row per item, or a line saying why there are none yet.
import type { Child } from "hono/jsx";

/** A column head: its label (a string alone is a plain column), `num` right-aligns figures. */
export type Column = string | { label?: Child; num?: boolean };

export interface DataTableProps<T> {
  /** Heads left to right; null or false leaves a column out (one only some viewers get). */
  columns: readonly (Column | null | false)[];
  rows: readonly T[];
  row: (item: T) => Child;
  /** Said instead of the table when there are no rows: what would make some. */
  empty: Child;
  class?: string;
}

const Head = ({ column }: { column: Column }) =>
  typeof column === "string" ? (
    <th>{column}</th>
  ) : column.num ? (
    <th class="num">{column.label}</th>
  ) : (
    <th>{column.label}</th>
  );

export function DataTable<T>(p: DataTableProps<T>) {
  if (p.rows.length === 0) return <div class="empty">{p.empty}</div>;
  return (
    <table class={p.class}>
      <thead>
        <tr>{p.columns.map((c) => (c ? <Head column={c} /> : null))}</tr>
      </thead>
      <tbody>{p.rows.map((r) => p.row(r))}</tbody>
    </table>
  );
}
