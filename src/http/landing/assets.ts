/** The page's fixed CSS and script: no request data goes into them. */
export const CSS = `
:root{--bg:#f6f7f9;--fg:#1c2430;--muted:#5b6676;--line:#dde2e8;--card:#fff;--accent:#f38020;--accent-ink:#b45309;--code-bg:#0f1722;--code-fg:#e6edf3;--ok:#15803d;--bad:#b91c1c}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9aa6b2;--line:#2a323d;--card:#151b23;--accent-ink:#fbbf77;--code-bg:#0a0f16}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,pre,input{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
code{font-size:.9em}
.wrap{max-width:1040px;margin:0 auto;padding:0 24px}
header{background:linear-gradient(135deg,#1b2838 0%,#243b55 100%);color:#fff;padding:40px 0 32px;border-bottom:4px solid var(--accent)}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:#fbbf77;font-weight:600}
h1{margin:6px 0 10px;font-size:30px;line-height:1.2;word-break:break-all}
.lead{margin:0;max-width:720px;color:#d5dde8}
.facts{margin:18px 0 0;display:flex;flex-wrap:wrap;gap:8px}
.pill{display:inline-block;padding:3px 10px;border-radius:999px;background:rgba(255,255,255,.12);font-size:13px}
.pill code{color:#fff}
.pill.warn{background:rgba(243,128,32,.3)}
.facts-note{margin:10px 0 0;max-width:720px;color:#d5dde8;font-size:14px}
main{padding-bottom:8px}
section{margin:32px 0}
h2{font-size:20px;margin:0 0 6px}
.note{color:var(--muted);margin:6px 0 14px}
.note code,td code{background:rgba(127,140,160,.14);padding:1px 5px;border-radius:4px;color:var(--fg)}
.table{overflow-x:auto;border:1px solid var(--line);border-radius:10px;background:var(--card)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:9px 14px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);font-weight:600;background:rgba(127,140,160,.06)}
.num{text-align:right;white-space:nowrap}
td code.prefix{font-weight:600;background:none;padding:0}
td code.host{display:inline-block;margin:1px 0}
td code.url{white-space:nowrap}
.tag{display:inline-block;margin-left:6px;padding:0 7px;border-radius:999px;font-size:11px;line-height:18px;background:var(--accent);color:#fff;font-weight:600;vertical-align:1px}
.tag.muted{background:rgba(127,140,160,.2);color:var(--muted)}
.muted{color:var(--muted)}
.tabs{display:flex;flex-wrap:wrap;gap:4px;border-bottom:1px solid var(--line);margin:14px 0 16px}
.tabs button{appearance:none;border:0;background:none;color:var(--muted);font:inherit;font-weight:600;padding:8px 14px;border-bottom:3px solid transparent;margin-bottom:-1px;cursor:pointer;border-radius:6px 6px 0 0}
.tabs button:hover{color:var(--fg);background:rgba(127,140,160,.1)}
.tabs button[aria-selected=true]{color:var(--accent-ink);border-bottom-color:var(--accent)}
.js .panel-title{display:none}
.panel-title{font-size:16px;margin:24px 0 8px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:0 16px}
figure.snippet{margin:0 0 14px;border-radius:10px;overflow:hidden;border:1px solid #1f2a37;background:var(--code-bg);min-width:0}
figcaption{display:flex;align-items:center;gap:10px;padding:7px 8px 7px 14px;background:#19222e;color:#c9d3de;font-size:13px}
figcaption .file{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;flex:1;min-width:0;overflow-wrap:anywhere}
figcaption .lang{color:#8b98a8;font-size:12px;white-space:nowrap}
button{font:inherit}
button.copy{border:1px solid #3a4757;background:#243040;color:#e6edf3;border-radius:6px;padding:2px 12px;font-size:12px;cursor:pointer}
button.copy:hover{background:#2e3d51}
button.copy.done{background:var(--ok);border-color:var(--ok)}
pre{margin:0;padding:14px 16px;overflow-x:auto;color:var(--code-fg);font-size:13px;line-height:1.5}
pre code{font-size:inherit}
.admin-form{display:flex;flex-wrap:wrap;align-items:center;gap:8px}
.admin-form label{font-weight:600;margin-right:4px}
.admin-form input{flex:1;min-width:220px;max-width:420px;padding:7px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.admin-form button{padding:7px 16px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;font-weight:600;cursor:pointer}
.admin-form button.secondary{background:none;color:var(--muted);border-color:var(--line)}
.message{min-height:1.5em;margin:10px 0}
.message.error{color:var(--bad);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.card .value{font-size:24px;font-weight:700;margin-top:2px}
.card .sub{font-size:13px;color:var(--muted)}
.bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:rgba(127,140,160,.2);margin-top:8px}
.bar span{display:block;height:100%}
#stats h3{font-size:15px;margin:18px 0 8px}
.quota{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.quota-card svg{display:block;margin:8px 0 6px;color:var(--fg)}
.quota-card .axis{display:flex;justify-content:space-between;font-size:11px;color:var(--muted);margin-bottom:6px}
.quota-item{display:inline-block;margin-right:12px;white-space:nowrap}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px;vertical-align:0}
footer{color:var(--muted);font-size:13px;padding-top:8px;padding-bottom:32px;border-top:1px solid var(--line)}
@media (max-width:640px){.wrap{padding:0 14px}h1{font-size:24px}.pair{grid-template-columns:1fr}}
`;

/** The page's only script: tabs, copy buttons and the admin stats. Builds the stats with textContent only. */
export const SCRIPT = `
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Tabs: without the script every panel simply shows, one after the other.
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  function select(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
    if (history.replaceState) history.replaceState(null, "", "#" + tab.id.slice(4));
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { select(tab, false); });
    tab.addEventListener("keydown", function (e) {
      var d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (d) { e.preventDefault(); select(tabs[(i + d + tabs.length) % tabs.length], true); }
    });
  });
  var wanted = tabs.filter(function (t) { return "#" + t.id.slice(4) === location.hash; })[0];
  if (tabs.length) select(wanted || tabs[0], false);

  // Copy buttons.
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var code = button.closest("figure").querySelector("pre code");
    var text = code ? code.textContent : "";
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); })
      : fallbackCopy(text);
    copy.then(function () {
      button.textContent = "Copied";
      button.classList.add("done");
    }, function () {
      button.textContent = "Select + Ctrl-C";
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }).then(function () {
      setTimeout(function () { button.textContent = "Copy"; button.classList.remove("done"); }, 1600);
    });
  });

  // Admin stats.
  var KEY = "registry-mirror.admin-token";
  var form = document.getElementById("admin-form");
  var input = document.getElementById("admin-token");
  var message = document.getElementById("stats-message");
  var out = document.getElementById("stats");
  if (!form) return;
  try { input.value = sessionStorage.getItem(KEY) || ""; } catch (e) {}

  function say(text, error) {
    message.textContent = text;
    message.className = error ? "message error" : "message";
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function num(n) { return typeof n === "number" && isFinite(n) ? n : 0; }
  function count(n) { return num(n).toLocaleString("en-US"); }
  function bytes(n) {
    n = num(n);
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + units[i];
  }
  function pct(part, whole) { return whole > 0 ? Math.round((part / whole) * 1000) / 10 + "%" : "–"; }
  function card(label, value, sub) {
    var c = el("div", "card");
    c.appendChild(el("div", "label", label));
    c.appendChild(el("div", "value", value));
    if (sub) c.appendChild(el("div", "sub", sub));
    return c;
  }
  function bar(parts) {
    var total = parts.reduce(function (s, p) { return s + p[0]; }, 0);
    var b = el("div", "bar");
    if (total > 0) parts.forEach(function (p) {
      var s = el("span");
      s.style.width = (p[0] / total) * 100 + "%";
      s.style.background = p[1];
      s.title = p[2];
      b.appendChild(s);
    });
    return b;
  }
  function table(head, rows) {
    var wrap = el("div", "table");
    var t = el("table");
    var tr = el("tr");
    head.forEach(function (h, i) { tr.appendChild(el("th", i > 0 && h.num ? "num" : "", h.label)); });
    var thead = el("thead");
    thead.appendChild(tr);
    t.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (v, i) { row.appendChild(el("td", head[i].num ? "num" : "", v)); });
      tbody.appendChild(row);
    });
    t.appendChild(tbody);
    wrap.appendChild(t);
    return wrap;
  }
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#2563eb", "#f38020", "#15803d", "#9333ea", "#b91c1c", "#0891b2"];
  function svg(tag, attrs) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    return n;
  }
  // One upstream's accounts: a line of remaining quota each over the last 12 hours, and a legend.
  function quotaCard(name, u) {
    var c = el("div", "card quota-card");
    c.appendChild(el("div", "label", name + (u.quotaExhausted ? " · all accounts exhausted" : "")));
    var W = 320, H = 90, now = Date.now(), from = now - 12 * 3600 * 1000;
    var top = 1;
    u.quota.forEach(function (q) {
      top = Math.max(top, num(q.limit));
      (q.history || []).forEach(function (p) { top = Math.max(top, num(p.limit)); });
    });
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", height: H, role: "img", preserveAspectRatio: "none" });
    chart.appendChild(svg("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, stroke: "currentColor", "stroke-opacity": 0.2 }));
    var title = svg("title", {});
    title.textContent = "Remaining pull quota of each account of " + name;
    chart.appendChild(title);
    var legend = el("div", "sub");
    u.quota.forEach(function (q, i) {
      var color = COLORS[i % COLORS.length];
      var points = (q.history || []).map(function (p) {
        var x = ((Date.parse(p.at) - from) / (now - from)) * W;
        var y = H - 2 - (num(p.remaining) / top) * (H - 6);
        return Math.max(0, Math.min(W, x)).toFixed(1) + "," + y.toFixed(1);
      });
      if (points.length === 1) points.push(W + "," + points[0].split(",")[1]);
      if (points.length) chart.appendChild(svg("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
      var item = el("span", "quota-item");
      var dot = el("span", "dot");
      dot.style.background = color;
      item.appendChild(dot);
      item.appendChild(document.createTextNode(q.account + ": " +
        (q.remaining === null || q.remaining === undefined ? "?" : count(q.remaining)) + " / " +
        (q.limit === null || q.limit === undefined ? "?" : count(q.limit)) +
        (q.exhaustedUntil ? " · exhausted until " + new Date(q.exhaustedUntil).toLocaleTimeString() : "")));
      legend.appendChild(item);
    });
    c.appendChild(chart);
    var axis = el("div", "axis");
    axis.appendChild(el("span", "", "12 h ago"));
    axis.appendChild(el("span", "", "top: " + count(top)));
    axis.appendChild(el("span", "", "now"));
    c.appendChild(axis);
    c.appendChild(legend);
    return c;
  }
  function render(s) {
    out.textContent = "";
    var req = s.requests || {};
    var byCache = req.byCache || {};
    var hit = num(byCache.HIT), miss = num(byCache.MISS), stale = num(byCache.STALE), reval = num(byCache.REVALIDATED);
    var classified = hit + miss + stale + reval;
    var b = s.bytes || {};
    var fromCache = num(b.fromCache), fromUpstream = num(b.fromUpstream);
    var storage = s.storage || {};
    var cards = el("div", "cards");
    var c1 = card("Requests", count(req.total), count(req.errors) + " errors");
    cards.appendChild(c1);
    var c2 = card("From cache", pct(hit + stale + reval, classified),
      "hit " + count(hit) + " · revalidated " + count(reval) + " · stale " + count(stale) + " · miss " + count(miss));
    c2.appendChild(bar([[hit, "#15803d", "HIT"], [reval, "#4ade80", "REVALIDATED"], [stale, "#f59e0b", "STALE"], [miss, "#94a3b8", "MISS"]]));
    cards.appendChild(c2);
    var c3 = card("Served from cache", bytes(fromCache), bytes(fromUpstream) + " fetched upstream");
    c3.appendChild(bar([[fromCache, "#15803d", "from cache"], [fromUpstream, "#94a3b8", "from upstream"]]));
    cards.appendChild(c3);
    cards.appendChild(card("Stored", bytes(storage.bytes), count(storage.blobs) + " blobs"));
    out.appendChild(cards);

    var ups = s.upstreams || {};
    var names = Object.keys(ups).sort();
    if (names.length) {
      out.appendChild(el("h3", "", "Upstream requests"));
      out.appendChild(table(
        [{ label: "Upstream" }, { label: "Token", num: true }, { label: "Manifest", num: true }, { label: "Blob", num: true },
         { label: "Other", num: true }, { label: "429s", num: true }],
        names.map(function (name) {
          var u = ups[name] || {};
          var r = u.requests || {};
          return [name, count(r.token), count(r.manifest), count(r.blob), count(r.other), count(u.tooManyRequests)];
        })
      ));
    }
    var quotas = names.filter(function (name) { return ((ups[name] || {}).quota || []).length > 0; });
    if (quotas.length) {
      out.appendChild(el("h3", "", "Pull quota (remaining, last 12 hours)"));
      var grid = el("div", "quota");
      quotas.forEach(function (name) { grid.appendChild(quotaCard(name, ups[name])); });
      out.appendChild(grid);
    }
    var waiting = s.deferredWarmups || [];
    if (waiting.length) {
      out.appendChild(el("h3", "", "Warm-ups waiting for quota"));
      out.appendChild(table([{ label: "Image" }, { label: "Goes on at" }],
        waiting.map(function (w) { return [w.image, new Date(w.resumeAt).toLocaleString()]; })));
    }
    var clients = s.topClients || [];
    if (clients.length) {
      out.appendChild(el("h3", "", "Who spends the quota (counted upstream requests, 24 h)"));
      out.appendChild(table([{ label: "Client" }, { label: "Kind" }, { label: "Requests", num: true }],
        clients.map(function (t) { return [t.client, t.kind, count(t.requests)]; })));
    }
    var top = s.topRepositories || [];
    if (top.length) {
      out.appendChild(el("h3", "", "Top repositories"));
      out.appendChild(table([{ label: "Repository" }, { label: "Pulls", num: true }],
        top.map(function (t) { return [t.repository, count(t.pulls)]; })));
    }
    out.hidden = false;
    say("Counting since " + (s.since ? new Date(s.since).toLocaleString() : "the last reset") + ".", false);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var token = input.value.trim();
    if (!token) { say("Enter the admin token first.", true); return; }
    try { sessionStorage.setItem(KEY, token); } catch (err) {}
    say("Loading…", false);
    fetch("/_/stats", { headers: { Authorization: "Bearer " + token, Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          out.hidden = true;
          say("The mirror refused this admin token (" + res.status + "). Check ADMIN_TOKEN.", true);
          return;
        }
        if (res.status === 404) {
          out.hidden = true;
          say("No stats here (404): the admin endpoints are off until ADMIN_TOKEN is set.", true);
          return;
        }
        if (!res.ok) { say("The stats request failed: HTTP " + res.status + ".", true); return; }
        return res.json().then(render);
      })
      .catch(function (err) { say("The stats request failed: " + (err && err.message ? err.message : err) + ".", true); });
  });
  document.getElementById("forget-token").addEventListener("click", function () {
    try { sessionStorage.removeItem(KEY); } catch (e) {}
    input.value = "";
    out.hidden = true;
    out.textContent = "";
    say("Token forgotten.", false);
  });
  if (input.value) form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
})();
`;
