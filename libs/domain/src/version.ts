/** The product version, reported by the API and by agents. A test keeps it equal to package.json's. */
export const VERSION = '0.1.0';

/** major.minor.patch of a version string, or null when it is not one. */
export function parseVersion(v: string): [number, number, number] | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/**
 * How a member's agent version stands against the control plane's: `current` (the same release line, major.minor),
 * `previous` (one release line back: supported, upgrade soon), `outdated` (older than the newest two release lines,
 * or unreadable: flagged in the portal and by `gateway members`), `newer` (ahead of the control plane).
 */
export function versionStanding(agent: string, controlPlane: string = VERSION): 'current' | 'previous' | 'outdated' | 'newer' {
  const a = parseVersion(agent);
  const c = parseVersion(controlPlane);
  if (!a || !c) return 'outdated';
  const line = (v: [number, number, number]) => v[0] * 1000 + v[1];
  const d = line(c) - line(a);
  if (d < 0) return 'newer';
  if (d === 0) return 'current';
  // The release line before the control plane's: the previous minor of the same major, or the last of the major before.
  return d === 1 || (a[0] === c[0] - 1 && c[1] === 0) ? 'previous' : 'outdated';
}
