/** True when a Prisma call failed on a unique constraint. */
export const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === 'P2002';
