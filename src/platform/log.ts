import type { Log } from "../mirror/types";

/** One JSON line per event; fields are chosen by callers, who never pass credentials. */
export const log: Log = (fields) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...fields }));
};

/** An error's name and message only: no stack, no request or header contents. */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : "unknown error";
}
