/** The table the suite prints at the end: one row per case. */
export interface SummaryRow {
  case: string;
  passed: boolean;
  /** Distinct updates (or requests, for the hostile case) sent. */
  sent: number;
  /** Updates handled exactly once (or requests answered as expected). */
  handled: number;
  lost: number;
  duplicated: number;
  /** HTTP requests made, redeliveries included. */
  requests: number;
  /** Answers that were not 2xx (for the hostile case: not the expected status). */
  non2xx: number;
  seconds: number;
  notes: string;
}

export function newRow(name: string): SummaryRow {
  return { case: name, passed: false, sent: 0, handled: 0, lost: 0, duplicated: 0, requests: 0, non2xx: 0, seconds: 0, notes: "" };
}

export function formatSummary(rows: SummaryRow[]): string {
  const header = ["case", "passed", "sent", "handled", "lost", "duplicated", "requests", "non-2xx", "time", "notes"];
  const lines = rows.map((row) => [
    row.case,
    row.passed ? "yes" : "NO",
    String(row.sent),
    String(row.handled),
    String(row.lost),
    String(row.duplicated),
    String(row.requests),
    String(row.non2xx),
    `${row.seconds.toFixed(1)} s`,
    row.notes,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => (line[i] ?? "").length)));
  const render = (cells: string[]) =>
    `| ${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  return [
    "reliability summary",
    render(header),
    render(widths.map((w, i) => "-".repeat(i === widths.length - 1 ? 5 : w))),
    ...lines.map(render),
  ].join("\n");
}
