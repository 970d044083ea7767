/**
 * What /proc says about a process (Linux): peak resident memory (VmHWM) and
 * CPU seconds of a whole process tree, so the bench can say which component
 * spent the time. Readers return undefined where /proc is not available.
 */
import fs from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on every Linux we run on

/** Peak resident set size in MiB (VmHWM), or undefined if the process is gone. */
export function peakRssMiB(pid: number): number | undefined {
  const kib = statusField(pid, 'VmHWM');
  return kib === undefined ? undefined : kib / 1024;
}

/** Current resident set size in MiB (VmRSS). */
export function rssMiB(pid: number): number | undefined {
  const kib = statusField(pid, 'VmRSS');
  return kib === undefined ? undefined : kib / 1024;
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in seconds */
  cpu: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // rest[0] = state (field 3); utime is field 14 → rest[11].
    const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
    return { pid, ppid: Number(rest[1]), cpu: ticks / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

function allStats(): Stat[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const s = readStat(Number(e));
    return s ? [s] : [];
  });
}

/**
 * CPU seconds used so far by each root's process tree (the root, its live
 * descendants, and the children each has reaped). One /proc walk for all roots.
 */
export function treeCpuSeconds(roots: Record<string, number>): Record<string, number> {
  const stats = allStats();
  const children = new Map<number, Stat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s);
    children.set(s.ppid, list);
  }
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const out: Record<string, number> = {};
  for (const [name, root] of Object.entries(roots)) {
    let total = 0;
    const stack = byPid.has(root) ? [byPid.get(root)!] : [];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s.pid)) continue;
      seen.add(s.pid);
      total += s.cpu;
      for (const c of children.get(s.pid) ?? []) stack.push(c);
    }
    out[name] = total;
  }
  return out;
}

/** CPU seconds of this process (user + system). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function loadAverage(): number[] {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** Seconds of CPU the whole machine spent busy and in total so far (all cores, /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, ...fields] = line.trim().split(/\s+/);
    const v = fields.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

export interface CpuWindow {
  seconds: number;
  /** Cores busy per component during the window (CPU seconds / wall seconds). */
  cores: Record<string, number>;
  /** Cores busy on the whole machine, and the part of it that was not ours (other work on a shared machine). */
  machineCores?: number;
  otherCores?: number;
}

/** Marks the start and end of a window and reports the CPU each process tree used in it. */
export function cpuMeter(roots: () => Record<string, number>) {
  let start: { at: number; tree: Record<string, number>; self: number; machine?: { busy: number } } | undefined;
  let result: CpuWindow | undefined;
  return {
    start() {
      start = { at: Date.now(), tree: treeCpuSeconds(roots()), self: selfCpuSeconds(), machine: machineCpuSeconds() };
    },
    end() {
      if (!start) return;
      const seconds = (Date.now() - start.at) / 1000;
      const tree = treeCpuSeconds(roots());
      const cores: Record<string, number> = {};
      for (const [name, used] of Object.entries(tree)) cores[name] = (used - (start.tree[name] ?? 0)) / seconds;
      cores.bench = (selfCpuSeconds() - start.self) / seconds;
      const machine = machineCpuSeconds();
      const machineCores = machine && start.machine ? (machine.busy - start.machine.busy) / seconds : undefined;
      const ours = Object.values(cores).reduce((a, b) => a + b, 0);
      result = { seconds, cores, ...(machineCores !== undefined ? { machineCores, otherCores: Math.max(0, machineCores - ours) } : {}) };
    },
    result: () => result,
  };
}
