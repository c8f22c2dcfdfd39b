/** The pino lines of a process's output (JSON lines; anything else is skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut in the middle (the process still writing)
    }
  }
  return lines;
}
