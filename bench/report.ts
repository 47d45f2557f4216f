// Re-renders docs/BENCHMARKS.md and docs/benchmarks.svg from a result file (default: the latest run).
// Run: node bench/report.ts [bench/results/latest.json]
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { renderSvg } from "./lib/chart.ts";
import { evaluateGoals } from "./lib/goals.ts";
import { renderMarkdown } from "./lib/report.ts";
import type { BenchResult } from "./lib/result.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const resultsDir = join(repoRoot, "bench", "results");
const file = resolve(process.argv[2] ?? join(resultsDir, "latest.json"));
const result = JSON.parse(readFileSync(file, "utf8")) as BenchResult;
result.goals = evaluateGoals(result);
const docs = join(repoRoot, "docs");
const md = join(docs, "BENCHMARKS.md");
writeFileSync(
  md,
  renderMarkdown(result, relative(docs, file), existsSync(md) ? readFileSync(md, "utf8") : ""),
);
writeFileSync(join(docs, "benchmarks.svg"), renderSvg(result));
console.log(`rendered ${md} and docs/benchmarks.svg from ${file}`);
