/**
 * The admin stats part of the page's script: asks `/_/stats` with the token the operator types and
 * draws the figures with textContent only. The last part of the script: it returns early without the form.
 */
export const ADMIN_STATS = `
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
    var quarantine = s.quarantine || {};
    var held = quarantine.latest || [];
    out.appendChild(el("h3", "", "Quarantine: " + count(quarantine.count) + " digest" + (num(quarantine.count) === 1 ? "" : "s") + " refused to every client"));
    if (held.length) {
      out.appendChild(table([{ label: "Digest" }, { label: "Reason" }, { label: "Since" }],
        held.map(function (q) { return [q.digest, q.reason, new Date(q.since).toLocaleString()]; })));
      if (num(quarantine.count) > held.length) out.appendChild(el("p", "sub", "The latest " + held.length + " shown; GET /_/quarantine lists all."));
    } else {
      out.appendChild(el("p", "sub", 'None. PUT /_/quarantine/<digest> with {"reason": "…"} refuses a digest everywhere within a minute.'));
    }
    var events = s.events || {};
    var targets = events.targets || [];
    if (targets.length || num(events.emitted)) {
      out.appendChild(el("h3", "", "Events for scanners"));
      out.appendChild(el("p", "sub", count(events.emitted) + " emitted · " + count(events.delivered) + " delivered · " +
        count(events.retries) + " retries · " + count(events.failed) + " failed · " + count(events.pending) + " waiting" +
        (num(events.dropped) ? " · " + count(events.dropped) + " dropped" : "")));
      if (targets.length) out.appendChild(table(
        [{ label: "Target" }, { label: "Delivered", num: true }, { label: "Retries", num: true }, { label: "Failed", num: true },
         { label: "Waiting", num: true }, { label: "Last answer" }],
        targets.map(function (t) {
          return [t.target, count(t.delivered), count(t.retries), count(t.failed), count(t.pending),
            (t.lastStatus || "–") + (t.lastAttemptAt ? " · " + new Date(t.lastAttemptAt).toLocaleString() : "")];
        })));
    }
    var clients = s.topClients || [];
    if (clients.length) {
      var limit = s.budget || {};
      out.appendChild(el("h3", "", "Who spends the quota (counted upstream requests; downloads left unfinished)"));
      if (limit.requests || limit.bytes) out.appendChild(el("p", "note", "Budget per client and hour: " +
        (limit.requests ? count(limit.requests) + " requests" : "no request limit") + ", " +
        (limit.bytes ? bytes(limit.bytes) + " unfinished" : "no byte limit") + "; refused " +
        count((limit.refused || {}).requests || 0) + " + " + count((limit.refused || {}).bytes || 0) + " times."));
      out.appendChild(table([{ label: "Client" }, { label: "Kind" }, { label: "Requests, 24 h", num: true },
        { label: "This hour", num: true }, { label: "Unfinished, 24 h", num: true }],
        clients.map(function (t) {
          var h = t.thisHour || {};
          return [t.client, t.kind, count(t.requests), count(h.requests || 0), bytes(t.abandonedBytes || 0)];
        })));
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
`;
