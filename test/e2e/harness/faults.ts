// Fault injection for the counting proxies: tests make one upstream fail in a chosen way (error
// status, no answer, connection reset, wrong bytes, a redirect of the test's choosing) to check what
// the mirror does in trouble.
import { Transform } from "node:stream";
import type { Kind } from "./counting.ts";

export type FaultMode = "status" | "hang" | "reset" | "corrupt" | "redirect";

export interface Fault {
  upstream: string;
  mode: FaultMode;
  /** Only requests of these kinds (all when absent). */
  kinds?: Kind[];
  /** Only requests whose URL contains this string. */
  match?: string;
  /** For mode "status"; for mode "redirect" the redirect status (default 302). */
  status?: number;
  /** For mode "redirect": the Location sent, as written (any scheme, relative or absolute). */
  location?: string;
  /**
   * Only requests that carry an Authorization header (true) or that do not (false); all when absent.
   * E.g. redirect only the request the mirror sends with the upstream's credentials.
   */
  withAuthorization?: boolean;
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

  /** `authorized`: whether the request carries an Authorization header (see `withAuthorization`). */
  find(upstream: string, kind: Kind, url: string, authorized = false): Fault | undefined {
    return this.faults.find(
      (f) =>
        f.upstream === upstream &&
        (!f.kinds || f.kinds.includes(kind)) &&
        (!f.match || url.includes(f.match)) &&
        (f.withAuthorization === undefined || f.withAuthorization === authorized),
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
