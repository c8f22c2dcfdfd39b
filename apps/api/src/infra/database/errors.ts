/** True when a Prisma call (or a raw statement through it) failed on a unique constraint. */
export const isUniqueViolation = (e: unknown) => {
  const err = e as { code?: string; meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } };
  return err?.code === 'P2002' || (err?.code === 'P2010' && err.meta?.driverAdapterError?.cause?.originalCode === '23505');
};
