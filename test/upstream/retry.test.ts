import { describe, expect, it } from "vitest";
import { retryingOnce } from "../../src/upstream/retry";

/** A fetcher that fails (no answer) the first `failures` times, then answers `status`; counts its calls. */
function flaky(failures: number, status = 200) {
  let calls = 0;
  const fetcher = async (): Promise<Response> => {
    calls += 1;
    if (calls <= failures) throw new TypeError("Network connection lost.");
    return new Response("ok", { status });
  };
  return { fetcher, calls: () => calls };
}

describe("retryingOnce", () => {
  it("tries a GET whose connection failed once more, and returns that answer", async () => {
    const upstream = flaky(1);
    const response = await retryingOnce(upstream.fetcher)(new Request("http://127.0.0.1/v2/"));
    expect(response.status).toBe(200);
    expect(upstream.calls()).toBe(2);
  });

  it("tries a HEAD once more too", async () => {
    const upstream = flaky(1);
    const response = await retryingOnce(upstream.fetcher)(
      new Request("http://127.0.0.1/v2/", { method: "HEAD" }),
    );
    expect(response.status).toBe(200);
    expect(upstream.calls()).toBe(2);
  });

  it("gives up after the second failure with that failure", async () => {
    const upstream = flaky(5);
    await expect(retryingOnce(upstream.fetcher)(new Request("http://127.0.0.1/v2/"))).rejects.toThrow(
      "Network connection lost.",
    );
    expect(upstream.calls()).toBe(2);
  });

  it.each([500, 502, 503, 429])("passes an answer of %i on without asking again", async (status) => {
    const upstream = flaky(0, status);
    const response = await retryingOnce(upstream.fetcher)(new Request("http://127.0.0.1/v2/"));
    expect(response.status).toBe(status);
    expect(upstream.calls()).toBe(1);
  });

  it("does not retry a request whose time is up (aborted)", async () => {
    const upstream = flaky(1);
    const controller = new AbortController();
    controller.abort();
    const request = new Request("http://127.0.0.1/v2/", { signal: controller.signal });
    await expect(retryingOnce(upstream.fetcher)(request)).rejects.toThrow();
    expect(upstream.calls()).toBe(1);
  });

  it("does not retry a request that is not a GET or HEAD", async () => {
    const upstream = flaky(1);
    const request = new Request("http://127.0.0.1/v2/", { method: "POST", body: "x" });
    await expect(retryingOnce(upstream.fetcher)(request)).rejects.toThrow();
    expect(upstream.calls()).toBe(1);
  });
});
