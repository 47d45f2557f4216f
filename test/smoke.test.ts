import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("answers", async () => {
  const res = await exports.default.fetch("http://mirror/v2/");
  expect(res.status).toBe(200);
});
