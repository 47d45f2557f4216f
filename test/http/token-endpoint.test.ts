// POST /token is unauthenticated: its body is bounded before it is read (Content-Length), and while it
// is read (a body without a length stops being read past the limit).
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_TOKEN_FORM_BYTES } from "../../src/http/routes/token";
import worker from "../../src/index";

const USERS = { ci: "ci-password-1" };

async function post(body: BodyInit, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request("http://mirror.test/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
      body,
    }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, MIRROR_USERS: JSON.stringify(USERS), AUTH_FAILURES: undefined },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

/** A form body of `total` bytes, produced only as it is read; `pulled` says how much was. */
function countingBody(total: number) {
  const chunk = new TextEncoder().encode("a".repeat(16 * 1024));
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (counter.pulled >= total) return controller.close();
        counter.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

describe("POST /token body limits", () => {
  it("refuses a form whose Content-Length is over the limit with 413, without reading it", async () => {
    const total = 1024 * 1024;
    const { stream, counter } = countingBody(total);
    const response = await post(stream, { "Content-Length": String(total) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ errors: [{ code: "SIZE_INVALID" }] });
    // Not read (at most what the runtime buffers ahead), never the megabyte.
    expect(counter.pulled).toBeLessThanOrEqual(64 * 1024);
  });

  it("stops reading a form without a length as soon as it passes the limit", async () => {
    const { stream, counter } = countingBody(4 * 1024 * 1024);
    const response = await post(stream);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ errors: [{ code: "SIZE_INVALID" }] });
    // The limit plus what the runtime buffers ahead, not the 4 MiB.
    expect(counter.pulled).toBeLessThanOrEqual(MAX_TOKEN_FORM_BYTES + 128 * 1024);
  });

  it("still answers a normal password grant", async () => {
    const response = await post(
      new URLSearchParams({
        grant_type: "password",
        username: "ci",
        password: USERS.ci,
        service: "mirror.test",
      }),
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { token?: string }).token).toBeTypeOf("string");
  });
});
