// docs/benchmarks.svg: a horizontal bar chart of each path's pull time ÷ direct, with the goal lines.
import { imageLabel } from "./format.ts";
import { type BenchResult, SYSTEM_INFO, SYSTEMS } from "./result.ts";

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A horizontal bar chart of pull time ÷ direct, per image and path, with the goal lines. */
export function renderSvg(r: BenchResult): string {
  const bars: { group: string; label: string; value: number; color: string }[] = [];
  if (r.pulls) {
    for (const img of ["big", "many"] as const) {
      const group = imageLabel(r.settings.images[img]);
      for (const s of SYSTEMS) {
        if (s === "direct" || s === "viaProxy" || r.pulls.ratios[img][s] === undefined) continue;
        bars.push({
          group,
          label: SYSTEM_INFO[s][0],
          value: r.pulls.ratios[img][s],
          color: SYSTEM_INFO[s][1],
        });
      }
    }
  }
  const [left, plotW, barH, gap, groupGap, top] = [170, 520, 18, 6, 34, 70];
  // Log scale: the goal lines (1.10, 1.25) stay apart even when a bar reaches 10×.
  const maxRatio = Math.max(1.5, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const xMin = 0.5;
  const xMax = 2 ** Math.ceil(Math.log2(maxRatio * 1.05));
  const x = (v: number): number => {
    const c = Math.min(Math.max(v, xMin), xMax);
    return Number((left + (Math.log(c / xMin) / Math.log(xMax / xMin)) * plotW).toFixed(1));
  };
  const groups = [...new Set(bars.map((b) => b.group))];
  const perGroup = Math.max(1, ...groups.map((g) => bars.filter((b) => b.group === g).length));
  const height = top + groups.length * (perGroup * (barH + gap) + groupGap) + 30;
  const width = left + plotW + 70;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img">`,
    `<title>Pull time as a ratio to a direct pull: mirror and distribution proxy, cold, follow-on and warm</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Pull time ÷ direct pull (median, log scale, lower is better)</text>`,
    `<text x="${left}" y="36" fill="#555555">${esc(`${r.startedAt.slice(0, 10)} · ${r.machine.nproc} CPU · skopeo to dir: over loopback · ${r.settings.reps} repetitions`)}</text>`,
  ];
  const plotBottom = height - 30;
  const vline = (v: number, stroke: string): string =>
    `<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${plotBottom}" stroke=${stroke}/>`;
  // Grid and goal lines.
  for (let v = xMin; v <= xMax + 1e-9; v *= 2) {
    parts.push(
      vline(v, '"#eeeeee"'),
      `<text x="${x(v)}" y="${plotBottom + 14}" text-anchor="middle" fill="#777777">${v}×</text>`,
    );
  }
  const goal = (v: number, label: string, color: string, labelY: number): void => {
    parts.push(
      vline(v, `"${color}" stroke-dasharray="4 3"`),
      `<text x="${x(v) + 3}" y="${labelY}" fill="${color}" font-size="10">${esc(label)}</text>`,
    );
  };
  parts.push(vline(1, '"#333333"'));
  goal(1.1, "follow-on and warm goal 1.10", "#2e7d32", top - 20);
  goal(1.25, "cold goal 1.25", "#c62828", top - 8);
  let y = top;
  for (const g of groups) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${esc(g)}</text>`);
    y += 20;
    for (const b of bars.filter((bb) => bb.group === g)) {
      const w = Math.max(1, x(Number.isFinite(b.value) ? b.value : xMin) - left);
      parts.push(
        `<text x="${left - 6}" y="${y + barH - 5}" text-anchor="end">${esc(b.label)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`,
        `<text x="${left + w + 4}" y="${y + barH - 5}">${Number.isFinite(b.value) ? `${b.value.toFixed(2)}×` : "–"}</text>`,
      );
      y += barH + gap;
    }
    y += groupGap - 20;
  }
  parts.push("</svg>", "");
  return parts.join("\n");
}
