/** The page's fixed CSS: no request data goes into it. */
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
.note.warn{color:var(--fg);border-left:3px solid #f38020;padding-left:10px}
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
