// Markdown building blocks of the reports: number formats, tables, and the prose of report.md.
import { readFileSync } from "node:fs";
import type { Stats } from "./measure.ts";

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const missing = (x: number | undefined): x is undefined => x === undefined || Number.isNaN(x);
export const fx = (x: number | undefined, d = 2): string => (missing(x) ? "–" : x.toFixed(d));
export const ratio = (x: number | undefined): string => (missing(x) ? "–" : `${x.toFixed(2)}×`);
export const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
export const stat = (s: Stats | undefined, d = 2): string =>
  !s || s.n === 0 ? "–" : `${fx(s.median, d)} (${fx(s.min, d)}–${fx(s.max, d)})`;
/** "kind n, kind n" or "none". */
export const listed = (k: Record<string, number>, f: (n: number) => string = String): string =>
  Object.entries(k)
    .map(([kind, n]) => `${kind} ${f(n)}`)
    .join(", ") || "none";

/** An image as the tables and the chart name it: repository, size and blobs. */
export const imageLabel = (i: { repo: string; bytes: number; blobs: number } | undefined): string =>
  `${i?.repo} (${mib(i?.bytes ?? 0)}, ${i?.blobs} blobs)`;

/** A Markdown table; `head` is its header row as written, cells separated by " | ". */
export function table(head: string, rows: string[][]): string {
  const line = (row: string[]): string => `| ${row.join(" | ")} |`;
  const cells = head.split(" | ");
  return [line(cells), line(cells.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * The prose of the reports lives in report.md, as sections that start with a `<!-- @name -->` line; a
 * section is its text up to the next one, its final newline dropped, `{{key}}` replaced from `vars`.
 */
const SECTIONS = new Map(
  readFileSync(new URL("report.md", import.meta.url), "utf8")
    .split(/^<!-- @(?=[\w-]+ -->$)/m)
    .slice(1)
    .map((s) => {
      const [name, text] = [s.slice(0, s.indexOf(" ")), s.slice(s.indexOf("\n") + 1)];
      return [name, text.replace(/\n$/, "")];
    }),
);

export function prose(name: string, vars: Record<string, string | number> = {}): string {
  const text = SECTIONS.get(name);
  if (text === undefined) throw new Error(`bench/lib/report.md has no section ${name}`);
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new Error(`report.md ${name}: no value for {{${key}}}`);
    return String(v);
  });
}
