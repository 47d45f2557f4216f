// Re-renders docs/BENCHMARKS.md and docs/benchmarks.svg from a result file (default: the newest).
// Run: node bench/report.ts [bench/results/<time>.json]
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type BenchResult, evaluateGoals, renderMarkdown, renderSvg } from "./lib/report.ts";

const repoRoot = resolve(import.meta.dirname, "..");
const resultsDir = join(repoRoot, "bench", "results");
const newest = readdirSync(resultsDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .at(-1);
const file = resolve(process.argv[2] ?? join(resultsDir, newest ?? ""));
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
