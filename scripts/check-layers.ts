// Fails when an import in src/ points the wrong way between layers, or when modules import each other
// in a circle. The layers and their order are ARCHITECTURE.md's; run by `npm run lint`.
//   node scripts/check-layers.ts
// Every import counts for the direction, type-only ones too. For circles only imports that load code
// count: a Durable Object class and the `Env` that names its namespace refer to each other's types,
// which costs nothing at run time and says nothing about who calls whom.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const src = join(root, "src");

/**
 * Layers from the bottom up: a module may import its own layer and the layers below it, never above.
 * Within `http`, sub-apps and middleware share one layer.
 */
const LAYERS: ReadonlyArray<{ name: string; paths: readonly string[] }> = [
  { name: "pure helpers", paths: ["oci/", "util/", "signatures/"] },
  { name: "configuration", paths: ["config/", "auth/"] },
  { name: "clients and stores", paths: ["upstream/", "storage/"] },
  { name: "caching policy", paths: ["mirror/", "access/"] },
  { name: "operations", paths: ["ops/"] },
  { name: "platform", paths: ["platform/"] },
  { name: "HTTP surface", paths: ["http/"] },
  { name: "entry", paths: ["index.ts"] },
];

/** Pairs within one layer that must not know each other. */
const APART: ReadonlyArray<readonly [string, string]> = [["upstream/", "storage/"]];

function layerOf(file: string): number {
  const index = LAYERS.findIndex((layer) =>
    layer.paths.some((path) => file === path || file.startsWith(path)),
  );
  if (index < 0) throw new Error(`${file}: in no layer of scripts/check-layers.ts`);
  return index;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    // Ambient declarations (`*.d.ts`) are no modules of the app.
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [relative(src, path)] : [];
  });
}

const files = sourceFiles(src);
const known = new Set(files);

interface Import {
  readonly target: string;
  /** Types only (`import type`, every name `type`, or `import("…")` in a type): no code is loaded. */
  readonly typeOnly: boolean;
}

/** Relative imports of a file (static, re-exports, `import("…")` types), as src-relative paths. */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(src, file), "utf8");
  const found = [
    ...[...text.matchAll(/(?:^|\n)\s*(import|export)\b([^;]*?)\bfrom\s*"(\.[^"]+)"/g)].map((match) => {
      const clause = (match[2] ?? "").trim();
      const names = /^(?:type\s+)?\{([^}]*)\}$/.exec(clause)?.[1];
      const allTypes =
        names
          ?.split(",")
          .map((name) => name.trim())
          .filter(Boolean)
          .every((name) => name.startsWith("type ")) === true;
      return { specifier: match[3] ?? "", typeOnly: clause.startsWith("type ") || allTypes };
    }),
    ...[...text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g)].map((match) => ({
      specifier: match[1] ?? "",
      typeOnly: true,
    })),
  ];
  return found.map(({ specifier, typeOnly }) => {
    const base = relative(src, resolve(join(src, dirname(file)), specifier));
    for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`]) {
      if (known.has(candidate)) return { target: candidate, typeOnly };
    }
    throw new Error(`${file}: cannot resolve "${specifier}"`);
  });
}

const graph = new Map(files.map((file) => [file, importsOf(file)]));
const problems: string[] = [];

for (const [file, imports] of graph) {
  for (const { target } of imports) {
    const from = layerOf(file);
    const to = layerOf(target);
    if (to > from) {
      problems.push(`${file} (${LAYERS[from]?.name}) imports ${target} (${LAYERS[to]?.name}): a layer above`);
    }
    for (const [a, b] of APART) {
      if ((file.startsWith(a) && target.startsWith(b)) || (file.startsWith(b) && target.startsWith(a))) {
        problems.push(`${file} imports ${target}: ${a} and ${b} must not know each other`);
      }
    }
  }
}

// Only the platform reads the environment; the HTTP layer hands `c.env` to it in one middleware.
const READS_ENV = /\bc\.env\b|\bthis\.env\b/;
for (const file of files) {
  if (file.startsWith("platform/") || file === "http/middleware/services.ts") continue;
  const text = readFileSync(join(src, file), "utf8").replace(/\/\/.*|\/\*[\s\S]*?\*\//g, "");
  if (READS_ENV.test(text)) problems.push(`${file} reads the environment (only platform/ does)`);
}

// ARCHITECTURE.md names files on a request's path: each must exist (from the repository root, from src/,
// or within the layer folder it is named in: `routes/…` under http/, `env.ts` under platform/), so the
// map cannot drift from the code unnoticed.
const architecture = readFileSync(join(root, "ARCHITECTURE.md"), "utf8");
for (const match of architecture.matchAll(/`([a-z-]+(?:\/[a-z.-]+)*\.tsx?)`/g)) {
  const named = match[1] ?? "";
  const candidates = [named, ...["", "http/", "platform/"].map((dir) => `src/${dir}${named}`)];
  if (!candidates.some((path) => existsSync(join(root, path)))) {
    problems.push(`ARCHITECTURE.md names ${named}, which does not exist`);
  }
}

// Circles (Tarjan's strongly connected components): each one is reported once, with its members.
let counter = 0;
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
function visit(file: string): void {
  index.set(file, counter);
  low.set(file, counter);
  counter++;
  stack.push(file);
  onStack.add(file);
  for (const { target, typeOnly } of graph.get(file) ?? []) {
    if (typeOnly) continue;
    if (!index.has(target)) {
      visit(target);
      low.set(file, Math.min(low.get(file) ?? 0, low.get(target) ?? 0));
    } else if (onStack.has(target)) {
      low.set(file, Math.min(low.get(file) ?? 0, index.get(target) ?? 0));
    }
  }
  if (low.get(file) === index.get(file)) {
    const component: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      component.push(member);
      if (member === file) break;
    }
    if (component.length > 1)
      problems.push(`modules import each other in a circle: ${component.sort().join(", ")}`);
  }
}
for (const file of files) if (!index.has(file)) visit(file);

if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join("\n")}`);
  process.exit(1);
}
console.log(`check-layers: ${files.length} modules, every import points down, no circles`);
