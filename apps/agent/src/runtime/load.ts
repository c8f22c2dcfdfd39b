import { cpus, freemem, totalmem } from 'node:os';

/** Host CPU % since the previous sample, and memory % in use. GATEWAY_REPORT_CPU / _MEMORY override (for tests and drills). */
export class LoadSampler {
  private last = this.times();

  private times() {
    let idle = 0;
    let total = 0;
    for (const c of cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    }
    return { idle, total };
  }

  sample(): { cpu: number; memory: number } {
    const now = this.times();
    const dTotal = now.total - this.last.total;
    const cpu = dTotal > 0 ? 100 * (1 - (now.idle - this.last.idle) / dTotal) : 0;
    this.last = now;
    const memory = 100 * (1 - freemem() / totalmem());
    const override = (name: string, v: number) => (process.env[name] !== undefined ? Number(process.env[name]) : v);
    return { cpu: Math.round(override('GATEWAY_REPORT_CPU', cpu) * 10) / 10, memory: Math.round(override('GATEWAY_REPORT_MEMORY', memory) * 10) / 10 };
  }
}
