// What a test file sees of the test bed: the BedInfo from globalSetup and an admin client.
import { inject } from "vitest";
import { AdminClient } from "./admin.ts";
import type { BedInfo } from "./bed.ts";

declare module "vitest" {
  export interface ProvidedContext {
    bed: BedInfo;
  }
}

export function bed(): BedInfo {
  return inject("bed");
}

export function admin(): AdminClient {
  return new AdminClient(bed().adminUrl);
}
