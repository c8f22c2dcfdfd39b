import { z } from 'zod';

export const DependencyHealth = z.object({ status: z.enum(['up', 'down']), latencyMs: z.number().optional(), error: z.string().optional() });
export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  database: DependencyHealth,
  redis: DependencyHealth,
});
export type Health = z.infer<typeof Health>;
