/**
 * bench/RESULTS.md: the latest figures, one table per scenario, written by
 * the benchmarks themselves (never by hand). A run replaces its scenario's
 * section and keeps the others'.
 */
import { cpus, arch } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FILE = join(import.meta.dirname, "RESULTS.md");
const HEADER = `# Benchmark results

Written by the benchmarks (\`npm run bench\`, \`npm run bench:session\`,
\`npm run bench:outbox\`, \`npm run bench:live-queries\`); each run replaces
its own scenario's table. How they measure, and how to read them:
[README.md](README.md).
`;

/** The machine, as a run describes it. */
export function machine(): string {
  const cores = cpus();
  return `${cores.length} × ${cores[0]?.model.trim() ?? "unknown CPU"} (${arch()}), Node ${process.version}`;
}

/** Markdown table from a header row and rows. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function writeScenario(key: string, title: string, body: string): void {
  const start = `<!-- scenario: ${key} -->`;
  const end = `<!-- /scenario: ${key} -->`;
  const section = `${start}\n\n## ${title}\n\n${new Date().toISOString().slice(0, 10)}, ${machine()}.\n\n${body.trim()}\n\n${end}`;
  let text = existsSync(FILE) ? readFileSync(FILE, "utf8") : HEADER;
  const at = text.indexOf(start);
  const until = text.indexOf(end);
  text =
    at >= 0 && until > at
      ? text.slice(0, at) + section + text.slice(until + end.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(FILE, text);
  console.log(`wrote ${title} to bench/RESULTS.md`);
}
