// vitest globalSetup: one test bed for the whole run, owned by the main vitest process so that its
// teardown (and the process 'exit' hook in processes.ts) stops every child even when tests fail.
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { startBed } from "./harness/bed.ts";
import type {} from "./harness/context.ts"; // the ProvidedContext declaration

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const repoRoot = resolve(import.meta.dirname, "..", "..");
  const bed = await startBed(repoRoot, (msg) => console.log(`[e2e] ${msg}`));
  project.provide("bed", bed.info);
  return async () => {
    await bed.stop();
  };
}
