import { readdirSync, readFileSync } from 'node:fs';

/** A process's memory from /proc/<pid>/status, in MB (MiB): current (VmRSS) and peak (VmHWM) resident size. */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, peakMb: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/**
 * The process that does the work behind a child started with `node tools/...js`: the child itself, unless it
 * spawned a node process of its own (then that one).
 */
export function workerPidOf(pid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('node')) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return pid;
}

/** The CPU time (user and system, ms) a process has used so far, from /proc/<pid>/stat; NaN once it is gone. */
export function cpuTimeMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    // pid (comm) state ...: comm may hold spaces, so read after its closing parenthesis; utime and stime are in ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** The CPU time (ms) the whole machine has used so far (all cores: user, nice, system, irq, softirq), from /proc/stat. */
export function machineCpuMs(): number {
  const [, ...t] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((t[0] + t[1] + t[2] + t[5] + t[6]) * 1000) / 100;
}
