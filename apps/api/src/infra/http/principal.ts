/**
 * Who is calling, once the AuthGuard has let a request in: a signed-in user (REST, portal, front door) or a
 * member of a cluster (its agent). The http layer owns these types so that every feature, and the guard,
 * depend on them here rather than on the features that issue the tokens.
 */
export interface AuthUser {
  id: string;
  email: string;
}

export interface AuthMember {
  id: string;
  clusterId: string;
}

/** Resolves a bearer token to whom it was issued, or null when it is unknown, expired or revoked. */
export interface TokenVerifier<P> {
  verify(token: string): Promise<P | null>;
}

/**
 * Injection tokens of the verifiers the guard calls. The features that issue the tokens provide them
 * (app.module.ts: AuthService for users, AgentAuthService for members), so infrastructure imports no feature.
 */
export const USER_TOKENS = Symbol('USER_TOKENS');
export const MEMBER_TOKENS = Symbol('MEMBER_TOKENS');
