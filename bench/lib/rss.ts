// Resident memory of a process group's members, read from /proc (Linux only): sampled VmRSS and the
// kernel's own high-water mark VmHWM.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  comm: string;
}

/** Members of process group `pgid` (wrangler dev and the workerd it spawned share one). */
export function groupMembers(pgid: number): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      // After "(comm) ": state ppid pgrp ...
      const fields = stat.slice(close + 2).split(" ");
      if (Number(fields[2]) === pgid) out.push({ pid: Number(entry), comm });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** VmRSS (and its anonymous and file-backed parts) and VmHWM in bytes; undefined when the process is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number; anon: number; file: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return {
      rss: kb("VmRSS") * 1024,
      hwm: kb("VmHWM") * 1024,
      anon: kb("RssAnon") * 1024,
      file: (kb("RssFile") + kb("RssShmem")) * 1024,
    };
  } catch {
    return undefined;
  }
}

export interface RssWindow {
  /** Sum of VmRSS over the watched processes just before the window. */
  baselineBytes: number;
  /** Highest sampled sum of VmRSS during the window. */
  peakBytes: number;
  /** The anonymous (heap, buffers) and file-backed (mapped files, shared memory) parts at baseline and peak. */
  anonBaselineBytes: number;
  anonPeakBytes: number;
  fileBaselineBytes: number;
  filePeakBytes: number;
  /** Sum of VmRSS at the end of the window. */
  endBytes: number;
  /** Sum of VmHWM before and after (the kernel's peak since process start). */
  hwmBeforeBytes: number;
  hwmAfterBytes: number;
  samples: number;
  /** Per process: baseline and sampled peak. */
  perProcess: { pid: number; comm: string; baselineBytes: number; peakBytes: number }[];
}

/** Samples VmRSS of `procs` every `intervalMs` until stop(). */
export class RssSampler {
  private readonly baseline = new Map<number, number>();
  private readonly peak = new Map<number, number>();
  private readonly hwmBefore: number;
  private peakTotal = 0;
  private anon0 = 0;
  private file0 = 0;
  private anonPeak = 0;
  private filePeak = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly procs: ProcInfo[];

  constructor(procs: ProcInfo[], intervalMs = 20) {
    this.procs = procs;
    let hwm = 0;
    let total = 0;
    for (const p of procs) {
      const m = memoryOf(p.pid);
      this.baseline.set(p.pid, m?.rss ?? 0);
      this.peak.set(p.pid, m?.rss ?? 0);
      hwm += m?.hwm ?? 0;
      total += m?.rss ?? 0;
      this.anon0 += m?.anon ?? 0;
      this.file0 += m?.file ?? 0;
    }
    this.anonPeak = this.anon0;
    this.filePeak = this.file0;
    this.hwmBefore = hwm;
    this.peakTotal = total;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): number {
    let total = 0;
    let anon = 0;
    let file = 0;
    for (const p of this.procs) {
      const m = memoryOf(p.pid);
      const rss = m?.rss ?? 0;
      total += rss;
      anon += m?.anon ?? 0;
      file += m?.file ?? 0;
      if (rss > (this.peak.get(p.pid) ?? 0)) this.peak.set(p.pid, rss);
    }
    if (total > this.peakTotal) this.peakTotal = total;
    if (anon > this.anonPeak) this.anonPeak = anon;
    if (file > this.filePeak) this.filePeak = file;
    this.samples++;
    return total;
  }

  stop(): RssWindow {
    clearInterval(this.timer);
    const end = this.sample();
    let hwmAfter = 0;
    for (const p of this.procs) hwmAfter += memoryOf(p.pid)?.hwm ?? 0;
    let baselineTotal = 0;
    for (const v of this.baseline.values()) baselineTotal += v;
    return {
      baselineBytes: baselineTotal,
      peakBytes: this.peakTotal,
      anonBaselineBytes: this.anon0,
      anonPeakBytes: this.anonPeak,
      fileBaselineBytes: this.file0,
      filePeakBytes: this.filePeak,
      endBytes: end,
      hwmBeforeBytes: this.hwmBefore,
      hwmAfterBytes: hwmAfter,
      samples: this.samples,
      perProcess: this.procs.map((p) => ({
        pid: p.pid,
        comm: p.comm,
        baselineBytes: this.baseline.get(p.pid) ?? 0,
        peakBytes: this.peak.get(p.pid) ?? 0,
      })),
    };
  }
}

/** CPU seconds (user + system) a process has used so far (clock ticks of 1/100 s on Linux). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after "(comm) ".
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function cpuSecondsOfAll(procs: ProcInfo[]): number {
  return procs.reduce((n, p) => n + cpuSecondsOf(p.pid), 0);
}
