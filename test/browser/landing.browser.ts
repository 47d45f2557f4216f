// The landing page in a real browser: starts the Worker with `wrangler dev`, opens `/` in Debian's headless
// Chromium (playwright-core, no downloaded browser) and checks what a person sees. Run with
// `npm run test:browser` (installs Chromium through test/browser/setup.sh when it is missing). Writes
// test/browser/output/landing.png (the whole page), setup-tab-*.png (each client tab) and wrangler.log;
// the last line is "N passed, N failed".
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const OUTPUT = join(HERE, "output");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ADMIN_TOKEN = randomBytes(18).toString("base64url");

interface Run {
  url: string;
  host: string;
  page: Page;
  context: BrowserContext;
  /** Uncaught exceptions and console errors of the page so far. */
  errors: string[];
}

/** Prefix → URL of the upstreams wrangler.toml ships (`[vars.UPSTREAMS]`), which `wrangler dev` serves. */
function shippedUpstreams(): Map<string, string> {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const section = toml.split(/^\[vars\.UPSTREAMS\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  const upstreams = new Map<string, string>();
  for (const m of section.matchAll(/^([a-z0-9_-]+)\s*=\s*\{\s*url\s*=\s*"([^"]+)"/gm)) {
    upstreams.set(m[1] ?? "", m[2] ?? "");
  }
  return upstreams;
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const checks: Array<[string, (r: Run) => Promise<void>]> = [
  [
    "GET / is an HTML page",
    async ({ url }) => {
      const res = await fetch(`${url}/`);
      const body = await res.text();
      assert(res.status === 200, `GET / answered ${res.status}: ${body.slice(0, 300)}`);
      assert(/^text\/html/.test(res.headers.get("Content-Type") ?? ""), "GET / is not text/html");
      assert(body.startsWith("<!doctype html>"), "GET / is not an HTML document");
    },
  ],
  [
    "it renders: title, heading and the upstream table",
    async ({ page, host }) => {
      const title = await page.title();
      assert(title === `Registry mirror · ${host}`, `title is ${JSON.stringify(title)}`);
      const h1 = await page.locator("h1").textContent();
      assert(h1 === host, `h1 is ${JSON.stringify(h1)}`);
      const expected = shippedUpstreams();
      assert(expected.size > 0, "no upstreams found in wrangler.toml");
      const rows = page.locator("#upstreams tbody tr");
      assert(
        (await rows.count()) === expected.size,
        `${await rows.count()} rows, ${expected.size} upstreams`,
      );
      for (const [prefix, upstreamUrl] of expected) {
        const row = page.locator(`#upstreams tr[data-prefix="${prefix}"]`);
        assert(await row.isVisible(), `no visible row for ${prefix}`);
        const text = (await row.textContent()) ?? "";
        assert(text.includes(upstreamUrl), `row ${prefix} lacks ${upstreamUrl}: ${text}`);
      }
      const box = await page.locator("#upstreams table").boundingBox();
      assert(box && box.height > 100, "the upstream table has no height");
    },
  ],
  [
    "every snippet names the request's host, and each tab shows its own",
    async ({ page, host, url }) => {
      const tabs = page.locator('[role="tab"]');
      const names: string[] = [];
      for (let i = 0; i < (await tabs.count()); i++) {
        const tab = tabs.nth(i);
        await tab.click();
        const panel = page.locator(`#${await tab.getAttribute("aria-controls")}`);
        assert(await panel.isVisible(), `panel of tab ${await tab.textContent()} is hidden`);
        assert((await tab.getAttribute("aria-selected")) === "true", "clicked tab is not selected");
        const visiblePanels = await page.locator('[role="tabpanel"]:visible').count();
        assert(visiblePanels === 1, `${visiblePanels} panels visible at once`);
        const figures = panel.locator("figure.snippet");
        assert((await figures.count()) > 0, `tab ${await tab.textContent()} has no snippet`);
        for (let j = 0; j < (await figures.count()); j++) {
          const figure = figures.nth(j);
          const caption = (await figure.locator("figcaption .file").textContent()) ?? "";
          const code = (await figure.locator("pre code").textContent()) ?? "";
          assert(await figure.isVisible(), `snippet ${caption} is not visible`);
          assert(code.includes(host), `snippet ${caption} does not name ${host}:\n${code}`);
          names.push(`${await tab.textContent()}: ${caption} (${await figure.getAttribute("data-kind")})`);
        }
        await page.mouse.move(0, 0);
        await page
          .locator("#setup")
          .screenshot({ path: join(OUTPUT, `setup-${await tab.getAttribute("id")}.png`) });
      }
      const kinds = await page.locator("figure.snippet").evaluateAll((f) => f.map((e) => e.dataset.kind));
      for (const kind of [
        "docker",
        "containerd",
        "containerd-override",
        "podman",
        "k3s",
        "buildkit",
        "github",
      ]) {
        assert(kinds.includes(kind), `no ${kind} snippet`);
      }
      const daemon = await page.locator('figure[data-kind="docker"] pre code').textContent();
      const parsed = JSON.parse(daemon ?? "") as Record<string, string[]>;
      assert(parsed["registry-mirrors"]?.[0] === url, `daemon.json mirrors: ${daemon}`);
      console.log(`  figures (${names.length}):\n${names.map((n) => `    ${n}`).join("\n")}`);
      await tabs.first().click();
    },
  ],
  [
    "a copy button copies its snippet",
    async ({ page, context, url, errors }) => {
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: url });
      const figure = page.locator('figure[data-kind="docker"]');
      const button = figure.locator("button.copy");
      await button.click();
      // A locator's wait, not waitForFunction: that evaluates a string, which the page's CSP forbids.
      await figure.locator("button.copy", { hasText: /^Copied$/ }).waitFor({ timeout: 5000 });
      // Strings, not functions: they run in the page, whose DOM types this Node script does not have.
      const copied = await page.evaluate<string>("navigator.clipboard.readText()");
      // A locator's wait, not waitForFunction: that evaluates a string, which the page's CSP forbids.
      await figure.locator("button.copy", { hasText: /^Copy$/ }).waitFor({ timeout: 5000 });
      const code = await figure.locator("pre code").textContent();
      assert(copied === code, `clipboard holds ${JSON.stringify(copied)}`);
      assert(errors.length === 0, `page errors: ${errors.join("; ")}`);
    },
  ],
  [
    "admin stats: a wrong token gets a clear message",
    async ({ page }) => {
      await page.fill("#admin-token", "not-the-token");
      await page.click("#load-stats");
      const message = page.locator("#stats-message.error");
      await message.waitFor({ timeout: 10_000 });
      const text = (await message.textContent()) ?? "";
      assert(/refused this admin token \(401\)/.test(text), `message: ${text}`);
      assert(await page.locator("#stats").isHidden(), "stats shown for a wrong token");
    },
  ],
  [
    "admin stats: the token shows the figures",
    async ({ page, url, errors }) => {
      // One pull-ish request so the counts are not all zero (a 404 from an unknown prefix is an error).
      await fetch(`${url}/v2/nosuchprefix-x/none/manifests/latest`).then((r) => r.arrayBuffer());
      await page.fill("#admin-token", ADMIN_TOKEN);
      await page.click("#load-stats");
      await page.locator("#stats .card").first().waitFor({ timeout: 15_000 });
      const labels = await page.locator("#stats .card .label").allTextContents();
      const values = await page.locator("#stats .card .value").allTextContents();
      for (const label of ["Requests", "From cache", "Served from cache", "Stored"]) {
        assert(labels.includes(label), `no ${label} card (${labels.join(", ")})`);
      }
      const message = (await page.locator("#stats-message").textContent()) ?? "";
      assert(message.startsWith("Counting since"), `message: ${message}`);
      const stored = await page.evaluate<string | null>(
        `sessionStorage.getItem("registry-mirror.admin-token")`,
      );
      assert(stored !== null && stored.length > 0, "token not kept in sessionStorage");
      console.log(`  stats: ${labels.map((l, i) => `${l} = ${values[i]}`).join(" | ")}`);
      assert(errors.length === 0, `page errors: ${errors.join("; ")}`);
    },
  ],
  [
    "admin stats: the pull quota of each account as a small chart, and who spends it",
    async ({ page, errors }) => {
      // A mirror that has talked to Docker Hub with two accounts (figures as /_/stats gives them).
      const now = Date.now();
      const history = (start: number) =>
        Array.from({ length: 12 }, (_, i) => ({
          at: new Date(now - (11 - i) * 3600_000).toISOString(),
          remaining: Math.max(0, start - i * 15),
          limit: 200,
        }));
      const snapshot = {
        since: new Date(now - 86_400_000).toISOString(),
        requests: { total: 10, byCache: { HIT: 5, MISS: 5, STALE: 0, REVALIDATED: 0 }, errors: 0 },
        bytes: { fromCache: 1, fromUpstream: 1 },
        upstreams: {
          dockerhub: {
            requests: { token: 2, manifest: 30, blob: 10, other: 0 },
            tooManyRequests: 1,
            quotaExhausted: false,
            quota: [
              {
                account: "first",
                limit: 200,
                remaining: 40,
                window: 21600,
                seenAt: new Date(now).toISOString(),
                exhaustedUntil: null,
                history: history(200),
              },
              {
                account: "second",
                limit: 200,
                remaining: 0,
                window: 21600,
                seenAt: new Date(now).toISOString(),
                exhaustedUntil: new Date(now + 3600_000).toISOString(),
                history: history(160),
              },
            ],
          },
        },
        storage: { blobs: 1, bytes: 1 },
        topRepositories: [],
        topClients: [
          {
            client: "ci",
            kind: "user",
            requests: 25,
            abandonedBytes: 0,
            thisHour: { requests: 3, abandonedBytes: 0 },
          },
        ],
        budget: { requests: 50, bytes: 5 * 1024 ** 3, refused: { requests: 2, bytes: 0 } },
        deferredWarmups: [
          { image: "dockerhub/library/node:22", resumeAt: new Date(now + 3600_000).toISOString() },
        ],
        quarantine: {
          count: 1,
          latest: [
            {
              digest: `sha256:${"c".repeat(64)}`,
              reason: "CVE-2026-0001 <script>alert(1)</script>",
              since: new Date(now - 3600_000).toISOString(),
            },
          ],
        },
        events: {
          emitted: 3,
          dropped: 0,
          delivered: 2,
          retries: 1,
          failed: 1,
          pending: 0,
          targets: [
            {
              target: "EVENT_WEBHOOKS[0] https://scanner.example.com",
              delivered: 2,
              retries: 1,
              failed: 1,
              pending: 0,
              lastStatus: "HTTP 500",
              lastAttemptAt: new Date(now).toISOString(),
            },
          ],
          recent: [],
        },
      };
      await page.route("**/_/stats", (route) =>
        route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(snapshot) }),
      );
      try {
        await page.fill("#admin-token", ADMIN_TOKEN);
        await page.click("#load-stats");
        await page.locator("#stats .quota-card svg polyline").nth(1).waitFor({ timeout: 15_000 });
        assert(
          (await page.locator("#stats .quota-card svg polyline").count()) === 2,
          "not one line per account",
        );
        const legend = (await page.locator("#stats .quota-card .sub").textContent()) ?? "";
        assert(legend.includes("first: 40 / 200"), `legend: ${legend}`);
        assert(/second: 0 \/ 200 · exhausted until/.test(legend), `legend: ${legend}`);
        const text = (await page.locator("#stats").textContent()) ?? "";
        assert(text.includes("Who spends the quota") && text.includes("ci"), "no top clients");
        assert(text.includes("Budget per client and hour: 50 requests"), "no client budget");
        assert(text.includes("dockerhub/library/node:22"), "no deferred warm-up");
        // The quarantine and the event deliveries, the reason as text (never markup).
        assert(text.includes("Quarantine: 1 digest refused to every client"), "no quarantine heading");
        assert(text.includes(`sha256:${"c".repeat(64)}`), "no quarantined digest");
        assert(text.includes("CVE-2026-0001 <script>alert(1)</script>"), "the reason is not shown as text");
        assert(text.includes("EVENT_WEBHOOKS[0] https://scanner.example.com"), "no webhook");
        assert(text.includes("2 delivered") && text.includes("1 failed"), "no delivery counts");
        await page.locator("#stats .quota").screenshot({ path: join(OUTPUT, "quota.png") });
        await page.locator("#stats").screenshot({ path: join(OUTPUT, "admin.png") });
        assert(errors.length === 0, `page errors: ${errors.join("; ")}`);
      } finally {
        await page.unroute("**/_/stats");
      }
    },
  ],
  [
    "screenshot",
    async ({ page }) => {
      const file = join(OUTPUT, "landing.png");
      await page.mouse.move(0, 0);
      await page.evaluate("window.scrollTo(0, 0)");
      await page.screenshot({ path: file, fullPage: true });
      assert(readFileSync(file).length > 10_000, "screenshot is suspiciously small");
      console.log(`  wrote ${file}`);
    },
  ],
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopWrangler(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, "SIGKILL"); // the leader may be gone while workerd lives on
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  killGroup(child, "SIGTERM");
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  killGroup(child, "SIGKILL");
}

async function waitForWorker(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler exited ${child.exitCode}`);
    if (/Build failed|✘ \[ERROR\]/.test(log())) throw new Error("wrangler could not build the Worker");
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("wrangler dev did not answer GET /v2/ within 90 s");
}

async function main(): Promise<number> {
  mkdirSync(OUTPUT, { recursive: true });
  if (!existsSync(CHROMIUM)) {
    const setup = spawnSync("bash", [join(HERE, "setup.sh")], { stdio: "inherit" });
    if (setup.status !== 0) throw new Error("test/browser/setup.sh could not install chromium");
  }
  const persist = mkdtempSync(join(tmpdir(), "landing-browser-state-"));
  const profile = mkdtempSync(join(tmpdir(), "landing-browser-profile-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const host = `127.0.0.1:${port}`;
  const node = join(ROOT, "node_modules", ".bin", "node");
  const wrangler = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  const args = [wrangler, "dev"];
  args.push("--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist);
  args.push("--var", `ADMIN_TOKEN:${ADMIN_TOKEN}`, "--show-interactive-dev-session=false");
  let output = "";
  const logFile = createWriteStream(join(OUTPUT, "wrangler.log"));
  const child = spawn(existsSync(node) ? node : process.execPath, args, {
    cwd: ROOT,
    detached: true, // its own process group: killGroup takes workerd with it
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      CI: "1",
      NO_UPDATE_NOTIFIER: "1",
      FORCE_COLOR: "0",
    },
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      logFile.write(chunk);
      if (output.length < 256 * 1024) output += chunk.toString();
    });
  }
  const cleanupOnSignal = () => {
    killGroup(child, "SIGKILL");
    process.exit(130);
  };
  process.once("SIGINT", cleanupOnSignal);
  process.once("SIGTERM", cleanupOnSignal);
  process.once("exit", () => killGroup(child, "SIGKILL"));

  let context: BrowserContext | undefined;
  let passed = 0;
  let failed = 0;
  try {
    await waitForWorker(url, child, () => output);
    console.log(`wrangler dev ready at ${url}`);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      // The admin checks' own 401 shows up as a failed resource load; it is expected.
      if (message.type() === "error" && !/status of 401/.test(message.text())) errors.push(message.text());
    });
    const res = await page.goto(`${url}/`, { waitUntil: "load" });
    assert(res, "no response for /");
    const run: Run = { url, host, page, context, errors };
    for (const [name, check] of checks) {
      try {
        await check(run);
        passed++;
        console.log(`ok   ${name}`);
      } catch (error) {
        failed++;
        console.log(
          `FAIL ${name}\n  ${String(error instanceof Error ? error.message : error).replace(/\n/g, "\n  ")}`,
        );
      }
    }
  } catch (error) {
    failed++;
    console.log(`FAIL setting up: ${error instanceof Error ? error.message : String(error)}`);
    console.log(`--- wrangler output (tail)\n${output.slice(-4000)}`);
  } finally {
    await context?.close().catch(() => {});
    await stopWrangler(child);
    logFile.end();
    rmSync(persist, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);
