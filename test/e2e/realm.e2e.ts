// Security issue, item 1: a redirect target (a CDN look-alike) that answers 401 with a challenge
// naming its own realm must not get the upstream's credentials. The credentialed upstreams of the bed
// (basic: htpasswd, token and hub: token auth) redirect a manifest or blob GET (fault mode "redirect")
// to a hostile server on another port that answers 401 `Bearer realm="http://<host>:<port>/token"` and
// hands a token to anyone who asks at /token. The mirror answers 502 UNAVAILABLE (an upstream error,
// not a login prompt) and the hostile server sees no request carrying credentials, no token request,
// and nothing later: the realm was not remembered. The realm's host is `localhost` (a foreign host) or
// 127.0.0.1 (the upstream's own host: the realm rule alone would allow it; the redirect rule must not).
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { admin, bed } from "./harness/context.ts";
import { fetchT, listenLoopback } from "./harness/net.ts";
import { ACCEPT_ALL } from "./harness/push.ts";

const b = bed();

interface Seen {
  method: string;
  url: string;
  /** The Authorization scheme only (never the secret), null without the header. */
  authorization: string | null;
}

let hostile: Server;
let port = 0;
const seen: Seen[] = [];

beforeAll(async () => {
  hostile = createServer((req, res) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization?.split(" ")[0] ?? null,
    });
    req.resume();
    const host = req.headers.host ?? `localhost:${port}`;
    if ((req.url ?? "").startsWith("/token")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: "hostile-token", access_token: "hostile-token", expires_in: 300 }));
      return;
    }
    res.writeHead(401, {
      "content-type": "application/json",
      "www-authenticate": `Bearer realm="http://${host}/token",service="cdn.e2e",scope="repository:x:pull"`,
    });
    res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "log in here" }] }));
  });
  port = await listenLoopback(hostile);
});
afterAll(async () => {
  await admin().clearFaults();
  hostile.closeAllConnections();
  await new Promise<void>((resolve) => hostile.close(() => resolve()));
});
beforeEach(async () => {
  await admin().reset();
  await admin().clearFaults();
  seen.length = 0;
});
afterEach(async () => {
  await admin().clearFaults();
});

const unique = (): string => `realm-${randomBytes(6).toString("hex")}`;
const cases = (["basic", "token", "hub"] as const).flatMap((prefix) =>
  (["manifest", "blob"] as const).flatMap((object) =>
    (["localhost", "127.0.0.1"] as const).map((realmHost) => [prefix, object, realmHost] as const),
  ),
);

describe("a redirect target answering 401 with its own realm gets no credentials", () => {
  it.each(cases)(
    "%s %s GET, realm on %s → 502, the hostile server sees no credentials",
    async (prefix, object, realmHost) => {
      // A repository of its own: no token this spec causes is one another spec counts on.
      const id = unique();
      const repo = `realm/${id}`;
      const digest = `sha256:${randomBytes(32).toString("hex")}`;
      const path =
        object === "manifest"
          ? `/v2/${prefix}/${repo}/manifests/${id}`
          : `/v2/${prefix}/${repo}/blobs/${digest}`;
      await admin().addFault({
        upstream: prefix,
        mode: "redirect",
        status: 307,
        match: object === "manifest" ? id : digest,
        location: `http://${realmHost}:${port}/cdn/${id}`,
      });

      const res = await fetchT(`${b.mirrorUrl}${path}`, { headers: { accept: ACCEPT_ALL } }, 60_000);
      const text = await res.text();
      const upstream = (await admin().requests(prefix)).filter((r) =>
        r.url.includes(object === "manifest" ? id : digest),
      );
      const story = `mirror → ${res.status} ${text.slice(0, 300)}\nupstream:\n${upstream
        .map((r) => `  ${r.method} ${r.url} → ${r.status} (${r.authorization ?? "-"})`)
        .join(
          "\n",
        )}\nhostile server:\n${seen.map((s) => `  ${s.method} ${s.url} (${s.authorization ?? "-"})`).join("\n")}`;

      expect(seen.length, `the redirect was not followed at all\n${story}`).toBeGreaterThanOrEqual(1);
      expect(
        seen.filter((s) => s.authorization !== null),
        story,
      ).toEqual([]);
      expect(
        seen.filter((s) => s.url.startsWith("/token")),
        story,
      ).toEqual([]);
      expect(res.status, story).toBe(502);
      expect(res.headers.get("www-authenticate"), story).toBeNull();
      expect((JSON.parse(text) as { errors: { code: string }[] }).errors[0]?.code, story).toBe("UNAVAILABLE");
      expect(text).not.toContain("hostile-token");

      // The realm was not remembered: the mirror still logs in to the upstream its own way (the repository
      // does not exist, so the upstream's answer after that login is 404), and the hostile server hears nothing.
      await admin().clearFaults();
      const before = seen.length;
      const tags = await fetchT(`${b.mirrorUrl}/v2/${prefix}/${repo}/tags/list`, {}, 60_000);
      const tagsText = await tags.text();
      expect(tags.status, tagsText).toBe(404);
      expect((JSON.parse(tagsText) as { errors: { code: string }[] }).errors[0]?.code, tagsText).toBe(
        "NAME_UNKNOWN",
      );
      expect(seen.length, story).toBe(before);
    },
  );
});
