import { raw } from "hono/html";
import { type Ctx, ttl } from "./context";
import { SCRIPT } from "./script";
import { Setup } from "./setup";
import { CSS } from "./styles";

/** What the landing page at `/` shows: this mirror's own address and its configured upstreams. */
export interface LandingPageInput {
  /** e.g. "https://mirror.example.workers.dev" or "http://127.0.0.1:8787" — taken from the request URL */
  origin: string;
  /** host[:port] of the mirror, e.g. "mirror.example.workers.dev" */
  host: string;
  upstreams: ReadonlyArray<{
    prefix: string;
    url: string;
    hosts: readonly string[];
    library: boolean;
    tagTtl: number;
  }>;
  defaultUpstream: string | null;
  /** true when MIRROR_USERS or OIDC_ISSUERS is set: show the login step in snippets */
  authRequired: boolean;
  /** The trusted OIDC issuers (`OIDC_ISSUERS`): CI jobs and pods log in with their platform's token. */
  oidcIssuers?: ReadonlyArray<{ issuer: string; audiences: readonly string[] }>;
  /** Whether layers are served from the data centre's cache (the Workers Cache API) in front of R2. */
  coloCache?: ColoCacheState;
  /** The Workers plan the mirror is set up for (`PLAN`); "free" says what that profile gives up. */
  plan?: "paid" | "free";
  /**
   * What one client may spend per hour (`CLIENT_BUDGET_*`, 0 = no limit) and the cap on stored blobs
   * (`RETENTION_MAX_BYTES`, null = none).
   */
  limits?: { requests: number; bytes: number; storedBytes: number | null };
  /** The entries of `SIGNATURE_POLICY`, in order; absent or empty = no signature is required. */
  signaturePolicy?: ReadonlyArray<{
    repositories: readonly string[];
    mode: "enforce" | "warn";
    keys: readonly string[];
  }>;
}

/** `active`: the cache keeps entries here; `inactive`: it does not (`*.workers.dev`); `off`: switched off. */
export type ColoCacheState = "active" | "inactive" | "off";

/**
 * The landing page: what this mirror is, its upstreams, copy-paste client set-up with this mirror's
 * host filled in, and the admin stats. All values pass through JSX, which escapes them; the only raw
 * HTML is the fixed CSS and script below.
 */
export function renderLandingPage(input: LandingPageInput): string {
  return `<!doctype html>${(<Page {...input} />).toString()}`;
}

function Page(input: LandingPageInput) {
  const origin = input.origin.replace(/\/+$/, "");
  const ctx: Ctx = { ...input, origin, insecure: origin.startsWith("http:") };
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <link rel="icon" href="data:," />
        <title>{`Registry mirror · ${input.host}`}</title>
        <style>{raw(CSS)}</style>
      </head>
      <body>
        <header>
          <div class="wrap">
            <p class="kicker">Pull-through container-registry mirror</p>
            <h1>{input.host}</h1>
            <p class="lead">
              Point Docker, containerd, podman, k3s or BuildKit here instead of pulling from Docker Hub, Quay
              or GHCR directly. Layers are cached at the edge and served to every runner after the first pull;
              the mirror is pull-only.
            </p>
            <p class="facts">
              <span class="pill">
                {input.upstreams.length === 1 ? "1 upstream" : `${input.upstreams.length} upstreams`}
              </span>
              <span class="pill">
                {input.defaultUpstream ? (
                  <>
                    default: <code>{input.defaultUpstream}</code>
                  </>
                ) : (
                  "no default upstream"
                )}
              </span>
              <span class={input.authRequired ? "pill warn" : "pill"}>
                {input.authRequired ? "login required" : "anonymous pulls"}
              </span>
              {input.coloCache ? (
                <span id="colo-cache" class={input.coloCache === "active" ? "pill" : "pill warn"}>
                  {input.coloCache === "active" ? "colo cache in use" : "colo cache not in use"}
                </span>
              ) : null}
              {input.plan === "free" ? (
                <span id="plan" class="pill warn">
                  Workers Free plan profile
                </span>
              ) : null}
            </p>
            {input.plan === "free" ? <FreePlanNote /> : null}
            {input.coloCache && input.coloCache !== "active" ? (
              <ColoCacheNote state={input.coloCache} host={input.host} />
            ) : null}
          </div>
        </header>
        <main class="wrap">
          <Upstreams ctx={ctx} />
          {input.limits ? <Limits limits={input.limits} /> : null}
          {input.signaturePolicy?.length ? <Signatures entries={input.signaturePolicy} /> : null}
          <Setup ctx={ctx} />
          <Admin />
        </main>
        <footer class="wrap">
          <p>
            Registry API at <code>{`${origin}/v2/`}</code> · OCI distribution, pull only
          </p>
        </footer>
        <script>{raw(SCRIPT)}</script>
      </body>
    </html>
  );
}

/** What each client may spend, and how much the mirror keeps: what a user hits before the operator does. */
function Limits({ limits }: { limits: NonNullable<LandingPageInput["limits"]> }) {
  const per = "per hour for each user (or, without a login, each IPv4 address or IPv6 /64)";
  return (
    <section id="limits">
      <h2>Limits</h2>
      <ul class="note">
        <li>
          {limits.requests > 0 ? (
            <>
              <strong>{limits.requests}</strong> upstream requests that count against the upstream's pull
              quota (manifest downloads, not cache hits) {per}
            </>
          ) : (
            "No limit on the upstream requests a client causes"
          )}
          {limits.bytes > 0 ? (
            <>
              , and <strong>{bytesText(limits.bytes)}</strong> of layer downloads left unfinished (the mirror
              completes and stores them)
            </>
          ) : null}
          . Past a limit the answer is <code>429 TOOMANYREQUESTS</code> with <code>Retry-After</code>; what
          the mirror holds is still served.
        </li>
        <li>
          {limits.storedBytes ? (
            <>
              Stored layers are capped at <strong>{bytesText(limits.storedBytes)}</strong>: the least recently
              pulled go first.
            </>
          ) : (
            "Stored layers have no size cap: only unused layers expire."
          )}
        </li>
      </ul>
    </section>
  );
}

/** "50 GB", "5 GiB": decimal for round decimal figures, binary for round binary ones. */
function bytesText(bytes: number): string {
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes % 1e9 === 0) return `${bytes / 1e9} GB`;
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  return `${bytes} bytes`;
}

/** What a mirror set up for the Workers Free plan does differently, for its users. */
function FreePlanNote() {
  return (
    <p class="facts-note" id="plan-note">
      This mirror runs within the Workers Free plan (<code>PLAN = "free"</code>: 10 ms of CPU per request). A
      layer pulled for the first time streams from the upstream, checked by your client's own digest check,
      while a copy goes to R2, which checks it before keeping it; layers over 5 GiB are not cached, and images
      are not warmed ahead of time.
    </p>
  );
}

/** Why layers come from R2 in one region instead of each data centre's cache, and what to do about it. */
function ColoCacheNote({ state, host }: { state: ColoCacheState; host: string }) {
  if (state === "off")
    return (
      <p class="facts-note">
        The colo cache is switched off (<code>COLO_CACHE_MAX_BYTES = 0</code>): every layer is read from R2.
      </p>
    );
  return (
    <p class="facts-note">
      Layers are read from R2 on every pull, not from the data centre's own cache:{" "}
      {host.endsWith(".workers.dev")
        ? "the Cache API does nothing on *.workers.dev. "
        : "the Cache API kept nothing for this host. "}
      Serve the mirror on a custom domain (<code>routes</code> in <code>wrangler.toml</code>) to use it.
    </p>
  );
}

function Upstreams({ ctx }: { ctx: Ctx }) {
  return (
    <section id="upstreams">
      <h2>Upstreams</h2>
      <p class="note">
        A path prefix picks the upstream (<code>{`${ctx.host}/<prefix>/…`}</code>); containerd's{" "}
        <code>?ns=&lt;host&gt;</code> picks it through the registry hosts.
        {ctx.defaultUpstream ? (
          <>
            {" "}
            Names without a prefix go to <code>{ctx.defaultUpstream}</code>.
          </>
        ) : (
          " Names without a prefix are refused: there is no default upstream."
        )}
      </p>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Prefix</th>
              <th>Upstream</th>
              <th>Registry hosts (ns)</th>
              <th class="num">Tag TTL</th>
            </tr>
          </thead>
          <tbody>
            {ctx.upstreams.map((u) => (
              <tr data-prefix={u.prefix}>
                <td>
                  <code class="prefix">{u.prefix}</code>
                  {u.prefix === ctx.defaultUpstream ? <span class="tag">default</span> : null}
                  {u.library ? (
                    <span class="tag muted" title="one-component names get library/">
                      library/
                    </span>
                  ) : null}
                </td>
                <td>
                  <code class="url">{u.url}</code>
                </td>
                <td>
                  {u.hosts.length === 0 ? (
                    <span class="muted">—</span>
                  ) : (
                    u.hosts.map((h, i) => (
                      <>
                        {i > 0 ? " " : null}
                        <code class="host">{h}</code>
                      </>
                    ))
                  )}
                </td>
                <td class="num">{ttl(u.tagTtl)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Which repositories need a signature, by which kind of key, and what a refused pull looks like. */
function Signatures({ entries }: { entries: NonNullable<LandingPageInput["signaturePolicy"]> }) {
  return (
    <section id="signatures">
      <h2>Signature policy</h2>
      <p class="note">
        Images of these repositories must be signed with cosign (<code>cosign sign --key</code>: the legacy{" "}
        <code>.sig</code> tag or a sigstore bundle) by one of the policy's keys; the first matching entry
        applies. Under <code>enforce</code> anything else is refused with <code>403 DENIED</code> and a
        message saying what is missing; under <code>warn</code> it is served with{" "}
        <code>X-Mirror-Signature: unverified</code>. Keyless signatures (<code>cosign sign</code> with an OIDC
        identity), as a sigstore bundle or in the legacy <code>.sig</code> form, count when their Fulcio
        issuer and subject match one of the entry's identities.
      </p>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th>Repositories</th>
              <th>Mode</th>
              <th>Signers</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr data-mode={entry.mode}>
                <td>
                  {entry.repositories.map((pattern, i) => (
                    <>
                      {i > 0 ? " " : null}
                      <code>{pattern}</code>
                    </>
                  ))}
                </td>
                <td>
                  <span class={entry.mode === "enforce" ? "tag" : "tag muted"}>{entry.mode}</span>
                </td>
                <td>{entry.keys.join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Admin() {
  return (
    <section id="admin">
      <h2>Admin</h2>
      <p class="note">
        Stats need the mirror's <code>ADMIN_TOKEN</code>. The token stays in this browser tab (session
        storage) and is sent only to this mirror.
      </p>
      <p class="note">
        The stats also list quarantined digests — refused with <code>403 DENIED</code> and their reason to
        every client and repository, set with <code>PUT /_/quarantine/&lt;digest&gt;</code> — and the
        deliveries of events to scanners' webhooks (<code>EVENT_WEBHOOKS</code>).
      </p>
      <form id="admin-form" class="admin-form" autocomplete="off">
        <label for="admin-token">Admin token</label>
        <input id="admin-token" name="token" type="password" placeholder="ADMIN_TOKEN" spellcheck={false} />
        <button type="submit" id="load-stats">
          Load stats
        </button>
        <button type="button" id="forget-token" class="secondary">
          Forget
        </button>
      </form>
      <p id="stats-message" class="message" role="status" aria-live="polite" />
      <div id="stats" hidden />
    </section>
  );
}
