import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { BackendError, verifyScramSha256Password, type PostgresConnection, type PostgresConnectionOptions } from 'pg-gateway';
import { fromNodeSocket } from 'pg-gateway/node';
import { DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { AuthService } from '../auth/auth.service';
import type { AuthUser } from '../../infra/http/principal';
import { RateLimitService } from '../auth/rate-limit.service';
import { parseScramVerifier } from '../auth/passwords';
import { DataSourcesService } from '../datasources/datasources.service';
import { ApiError } from '../../infra/http/errors';
import { QueryService } from '../queries/query.service';
import { RedisService } from '../../infra/redis/redis.service';
import { enc } from './pg-messages';
import { PgSession, toPgError } from './pg-session';
import { connectRedis, type RedisConnection } from '../../infra/redis/connect';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** No row limit of its own: a front door result is bounded by LIVE_MAX_BYTES. */
const MAX_ROWS = 100_000_000;
const VERSION_TTL_MS = 5 * 60_000;
const DEFAULT_SERVER_VERSION = '15.0';

const isLoopback = (address: string | undefined) => !!address && (/^(::ffff:)?127\./.test(address) || address === '::1');

const fatal = (code: string, message: string) => BackendError.create({ severity: 'FATAL', code, message });

/**
 * The first message of a connection (SSLRequest, GSSENCRequest, CancelRequest or StartupMessage), read whole; what
 * came after it is put back on the socket. Null when the peer closed or sent something else.
 */
function initialMessage(socket: Socket): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (m: Buffer | null) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      socket.pause();
      resolve(m);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      const len = buf.readInt32BE(0);
      if (len < 8 || len > 10_000) return done(null);
      if (buf.length < len) return;
      const rest = buf.subarray(len);
      done(buf.subarray(0, len));
      if (rest.length) socket.unshift(rest);
    };
    const onEnd = () => done(null);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

/**
 * The PostgreSQL front door (PG_PORT): any PostgreSQL client signs in with an account's email and its password or
 * token, names `<cluster>/<data source>` as the database, and each statement goes to the member routing picks,
 * with the same failover, limits and read-only rule as REST live queries (QueryService.wire).
 *
 * pg-gateway runs the startup, the authentication exchange (cleartext inside TLS or on loopback, SCRAM-SHA-256
 * elsewhere) and the message framing; the requests that come before a StartupMessage (SSLRequest, GSSENCRequest,
 * CancelRequest) are answered here, as pg-gateway 0.3 refuses a CancelRequest and makes TLS all or nothing.
 */
@Injectable()
export class PgDoorService implements OnModuleDestroy {
  private readonly logger = new Logger(PgDoorService.name);
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Map<number, { secret: number; session: PgSession }>();
  private readonly versions = new Map<string, { value: string; until: number }>();
  private readonly tls: SecureContext | null;
  /** CancelRequests that reach this instance for a session on another one, and the other way round. */
  private cancels: RedisConnection | null = null;

  constructor(
    private readonly redis: RedisService,
    private readonly auth: AuthService,
    private readonly limits: RateLimitService,
    private readonly dataSources: DataSourcesService,
    private readonly queries: QueryService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.tls = config.TLS_CERT_FILE && config.TLS_KEY_FILE ? createSecureContext({ cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) }) : null;
  }

  private get cancelChannel() {
    return this.redis.key('pg-cancel');
  }

  /** Starts listening; resolves with the port. */
  listen(port: number, host: string): Promise<number> {
    // A client's CancelRequest opens a new connection, which a load balancer may send to another instance: an
    // unknown key goes to every instance over Redis, and the one holding the session cancels.
    this.cancels = connectRedis(this.config, { maxRetriesPerRequest: null, connectionName: `gateway-api-pg-cancel:${this.config.REDIS_PREFIX}:${process.pid}` });
    this.cancels.on('error', () => undefined);
    this.cancels.on('message', (_channel, message: string) => {
      const [pid, secret] = message.split(':').map(Number);
      this.cancelLocal(pid, secret);
    });
    void this.cancels.subscribe(this.cancelChannel).catch(() => undefined);
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`PG_PORT ${port} is in use at ${host}: set PG_PORT to a free port, or to 0 to turn the PostgreSQL front door off`) : e));
      server.listen(port, host, () => {
        this.server = server;
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async onModuleDestroy() {
    this.cancels?.disconnect();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private accept(socket: Socket) {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    void this.negotiate(socket, socket, false).catch((e: Error) => {
      this.logger.warn(`a PostgreSQL connection from ${socket.remoteAddress} failed before sign-in: ${e.message}`);
      socket.destroy();
    });
  }

  private async negotiate(raw: Socket, socket: Socket, secure: boolean): Promise<void> {
    const first = await initialMessage(socket);
    if (!first) return void socket.destroy();
    const code = first.readInt32BE(4);
    if (code === CANCEL_REQUEST && first.length === 16) {
      this.cancel(first.readInt32BE(8), first.readInt32BE(12));
      return void socket.destroy();
    }
    if (code === GSSENC_REQUEST) {
      socket.write('N');
      return this.negotiate(raw, socket, secure);
    }
    if (code === SSL_REQUEST) {
      if (secure || !this.tls) {
        socket.write('N');
        return this.negotiate(raw, socket, secure);
      }
      socket.write('S');
      const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: this.tls });
      tlsSocket.on('error', () => socket.destroy());
      await new Promise<void>((resolve, reject) => {
        tlsSocket.once('secure', resolve);
        tlsSocket.once('error', reject);
      });
      return this.negotiate(raw, tlsSocket, true);
    }
    socket.unshift(first);
    await this.serve(raw, socket, secure);
  }

  private cancel(pid: number, secret: number) {
    if (this.cancelLocal(pid, secret)) return;
    void this.redis.client.publish(this.cancelChannel, `${pid}:${secret}`).catch((e: Error) => this.logger.warn(`a CancelRequest for another instance's session could not be passed on: ${e.message}`));
  }

  private cancelLocal(pid: number, secret: number): boolean {
    const s = this.sessions.get(pid);
    if (!s) return false;
    if (s.secret === secret) s.session.cancel();
    return true;
  }

  /** Sign-in and the session, on a socket whose next message is the StartupMessage. */
  private async serve(raw: Socket, socket: Socket, secure: boolean) {
    const address = raw.remoteAddress ?? 'unknown';
    // Plain-text passwords only where nobody can read them: inside TLS, or on this host.
    const plainText = secure || isLoopback(address);
    let user: AuthUser | null = null;
    let session: PgSession | null = null;
    let pid = 0;
    const auth = {
      method: 'password',
      getClearTextPassword: () => '',
      validateCredentials: async ({ password }: { password: string }, state: { clientParams?: { user: string } }) => {
        user = await this.auth.signInWithSecret(state.clientParams!.user, password, address);
        return user !== null;
      },
    } as Record<string, unknown>;
    let connection: PostgresConnection | null = null;
    const options: PostgresConnectionOptions = {
      auth: auth as PostgresConnectionOptions['auth'],
      onStartup: async (state) => {
        const email = state.clientParams!.user;
        await this.limits.assertAllowed(email, address).catch((e: unknown) => {
          throw fatal('28000', e instanceof ApiError ? (e.getResponse() as { message: string }).message : 'sign-in is not possible now');
        });
        if (plainText) return;
        const found = await this.auth.scramVerifierOf(email);
        const data = parseScramVerifier(found?.verifier);
        if (!found || !data) {
          throw fatal(
            '28000',
            `user "${email}" cannot sign in over an unencrypted connection from ${address}: connect with TLS (sslmode=require), where passwords and tokens are taken, or with SCRAM-SHA-256 once the account has a verifier (it gets one when its password is next used to sign in)`,
          );
        }
        Object.assign(auth, {
          method: 'scram-sha-256',
          getScramSha256Data: () => data,
          validateCredentials: async ({ authMessage, clientProof }: { authMessage: string; clientProof: string }) => {
            if (await verifyScramSha256Password({ authMessage, clientProof, storedKey: data.storedKey })) {
              user = found.user;
              await this.limits.succeeded(email);
              return true;
            }
            await this.limits.failed(email, address);
            // pg-gateway 0.3 closes a failed SCRAM exchange without a word: the FATAL is sent from here.
            throw fatal('28P01', `password authentication failed for user "${email}"`);
          },
        });
      },
      onAuthenticated: async (state) => {
        const params = state.clientParams as Record<string, string>;
        const database = params.database ?? params.user;
        const ds = await this.dataSourceOf(user!, database);
        pid = this.newPid();
        const secret = randomInt(-0x80000000, 0x7fffffff);
        session = new PgSession(
          { run: (sql, pg, o) => this.queries.wire(user!, ds.id, sql, pg, { timeoutMs: o.timeoutMs, maxRows: MAX_ROWS, signal: o.signal }) },
          {
            user: user!.email,
            startup: params,
            serverVersion: await this.serverVersion(user!, ds),
            defaultTimeoutMs: DEFAULT_QUERY_TIMEOUT_MS,
            maxTimeoutMs: MAX_QUERY_TIMEOUT_MS,
            onStatement: ({ answer, error, ms }) =>
              this.logger.log({ via: 'pg', dataSourceId: ds.id, clusterId: ds.clusterId, userId: user!.id, memberId: answer?.servedBy.memberId, reason: answer?.servedBy.reason, attempts: answer?.timings.attempts, executeMs: answer?.timings.executeMs, ms: Math.round(ms * 100) / 100, rows: answer?.rows.length, sqlstate: error?.code }, 'statement'),
          },
        );
        this.sessions.set(pid, { secret, session });
        // Before pg-gateway's ReadyForQuery: the settings clients read, and the key a CancelRequest names.
        const writer = (connection as unknown as { streamWriter: WritableStreamDefaultWriter<Uint8Array> }).streamWriter;
        for (const m of session.startupMessages()) await writer.write(m);
        await writer.write(enc.backendKeyData(pid, secret));
      },
      onMessage: (data, state) => (session && state.step === 'ReadyForQuery' ? session.handle(data) : undefined),
    };
    socket.once('close', () => {
      const s = session as PgSession | null;
      s?.cancel();
      if (pid) this.sessions.delete(pid);
    });
    connection = await fromNodeSocket(socket, options);
  }

  private newPid() {
    for (;;) {
      const pid = randomInt(1, 0x7fffffff);
      if (!this.sessions.has(pid)) return pid;
    }
  }

  /** The data source a database name `<cluster>/<data source>` names, or a FATAL saying why not. */
  private async dataSourceOf(user: AuthUser, database: string) {
    const slash = database.indexOf('/');
    if (slash <= 0 || slash === database.length - 1) throw fatal('3D000', `database "${database}" does not exist: connect to "<cluster>/<data source>" (names or ids), e.g. dbname=sales/warehouse`);
    try {
      return await this.dataSources.resolve(user, database.slice(0, slash), database.slice(slash + 1));
    } catch (e) {
      const err = toPgError(e);
      throw fatal(err.code, err.message);
    }
  }

  /** A PostgreSQL source's own version (psql and BI tools pick their catalog queries by it), remembered a while. */
  private async serverVersion(user: AuthUser, ds: { id: string; type: string }): Promise<string> {
    if (ds.type !== 'postgres') return DEFAULT_SERVER_VERSION;
    const hit = this.versions.get(ds.id);
    if (hit && hit.until > Date.now()) return hit.value;
    try {
      const answer = await this.queries.wire(user, ds.id, 'SHOW server_version', { params: [] }, { timeoutMs: 5_000, maxRows: 1 });
      const value = answer.rows[0]?.[0] ?? DEFAULT_SERVER_VERSION;
      this.versions.set(ds.id, { value, until: Date.now() + VERSION_TTL_MS });
      return value;
    } catch {
      return DEFAULT_SERVER_VERSION;
    }
  }
}
