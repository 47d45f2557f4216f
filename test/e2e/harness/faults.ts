// Fault injection for the counting proxies: tests make one upstream fail in a chosen way (error
// status, no answer, connection reset, wrong bytes) to check what the mirror does in trouble.
import { Transform } from "node:stream";
import type { Kind } from "./counting.ts";

export type FaultMode = "status" | "hang" | "reset" | "corrupt";

export interface Fault {
  upstream: string;
  mode: FaultMode;
  /** Only requests of these kinds (all when absent). */
  kinds?: Kind[];
  /** Only requests whose URL contains this string. */
  match?: string;
  /** For mode "status". */
  status?: number;
}

export class FaultTable {
  private faults: Fault[] = [];

  add(f: Fault): void {
    this.faults.push(f);
  }

  clear(): void {
    this.faults = [];
  }

  list(): Fault[] {
    return [...this.faults];
  }

  find(upstream: string, kind: Kind, url: string): Fault | undefined {
    return this.faults.find(
      (f) =>
        f.upstream === upstream &&
        (!f.kinds || f.kinds.includes(kind)) &&
        (!f.match || url.includes(f.match)),
    );
  }
}

/** Same length, different bytes: every byte inverted, so only a digest check can notice. */
export function corrupting(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const out = Buffer.from(chunk);
      for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) ^ 0xff;
      cb(null, out);
    },
  });
}
