import { z } from 'zod';

export const MIN_PASSWORD_LENGTH = 10;

export const Email = z
  .string()
  .trim()
  .max(254)
  .toLowerCase()
  .pipe(z.email({ error: 'must be an email address' }));

export const Credentials = z
  .object({
    email: Email,
    password: z
      .string()
      .min(MIN_PASSWORD_LENGTH, { error: `must be at least ${MIN_PASSWORD_LENGTH} characters` })
      .max(1024),
  })
  .strict();
export type Credentials = z.infer<typeof Credentials>;

export const UserView = z.object({ id: z.string(), email: z.string(), createdAt: z.string() });
export type UserView = z.infer<typeof UserView>;

export const TokenResponse = z.object({
  token: z.string(),
  expiresAt: z.string(),
  user: UserView,
});
export type TokenResponse = z.infer<typeof TokenResponse>;
