import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The Grafana dashboard in deploy/grafana/ asks only for metrics the gateway defines (a renamed metric would leave a
 * panel empty without a word), and every metric family it defines that an operator watches has a panel.
 */
const ROOT = path.join(__dirname, '../..');
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' || f === 'generated' ? [] : sources(p);
    return /\.ts$/.test(f) && !/spec\.ts$/.test(f) ? [p] : [];
  });

const defined = new Set(
  [...sources(path.join(ROOT, 'apps/api/src')), ...sources(path.join(ROOT, 'apps/agent/src'))].flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/name: '(gateway_[a-z_]+)'|gauge\('(gateway_[a-z_]+)'|gauge\(\s*'(gateway_[a-z_]+)'/g)].map((m) => m[1] ?? m[2] ?? m[3])),
);
const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/gateway-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const asked = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b(gateway_[a-z_]+?)(_bucket|_count|_sum)?\b/g)].map((m) => m[1]))));

test('the dashboard asks only for metrics the gateway defines', () => {
  expect(defined.size).toBeGreaterThan(10);
  expect([...asked].filter((m) => !defined.has(m))).toEqual([]);
});

test('every metric the gateway defines has a panel', () => {
  expect([...defined].filter((m) => !asked.has(m))).toEqual([]);
});
