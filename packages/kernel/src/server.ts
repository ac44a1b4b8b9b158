import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { INTERNAL_CONTEXT_HEADER, readInternalContext } from './context';
import { SHUTDOWN_GRACE_MS, ShutdownDrain } from './drain';
import { toPublicError } from './errors';
import type { RequestContext } from './request-context';

export const MAX_BODY_BYTES = 1_000_000;

export interface ServiceHandle {
  app: Express;
  httpServer: http.Server;
  /** Starts listening; port 0 picks a free one. Returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  url(): string;
  close(): Promise<void>;
}

/** Health endpoints shared by every service: liveness and readiness. */
export function healthRoutes(app: Express, ready: () => Promise<boolean>): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ok = await ready().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready' });
  });
}

/** JSON error for requests that never reach GraphQL (bad JSON, oversized body). */
export function bodyErrorHandler(
  err: unknown,
  _req: Request,
  res: Response,
  next: NextFunction,
): void {
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.too.large') {
    res.status(413).json({
      errors: [
        {
          message: `Request body too large (limit ${MAX_BODY_BYTES} bytes).`,
          extensions: { code: 'BAD_USER_INPUT', reason: 'PAYLOAD_TOO_LARGE' },
        },
      ],
    });
    return;
  }
  if (e?.type === 'entity.parse.failed') {
    res.status(400).json({
      errors: [
        {
          message: 'Malformed JSON body.',
          extensions: { code: 'BAD_USER_INPUT', reason: 'MALFORMED_JSON' },
        },
      ],
    });
    return;
  }
  next(err);
}

export function listenOn(server: http.Server, port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      resolve(`http://${host}:${addr.port}`);
    });
  });
}

export interface SubgraphServerOptions {
  name: string;
  schema: GraphQLSchema;
  orm: MikroORM;
  secret: string;
  logger: Logger;
  /** Routes outside GraphQL (carrier callbacks, exports), mounted before /graphql. */
  routes?: (app: Express) => void;
  plugins?: ApolloServerPlugin<RequestContext>[];
  /** Stops what the service runs beside requests (job runner, clients); before the database closes. */
  onClose?: () => Promise<void>;
  /** How long close() lets requests in flight finish before cutting them (SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number;
}

/**
 * Builds a subgraph service: /graphql accepting only gateway-signed contexts, /healthz,
 * /readyz, errors masked, graceful drain. No side effects until listen().
 *
 * close(): not ready and refusing new requests at once; the requests being executed finish
 * (even if their caller hung up), up to the grace period; then onClose (job runner), then the
 * database. Requests still running after the grace period are cut with one warning.
 */
export async function createSubgraphServer(options: SubgraphServerOptions): Promise<ServiceHandle> {
  const { orm, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);
  const graceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS;
  const drain = new ShutdownDrain(options.name, logger, graceMs);

  const apollo = new ApolloServer<RequestContext>({
    schema: options.schema,
    introspection: true,
    csrfPrevention: false,
    // Shutdown is ours (runUntilSignal → close): Apollo's own signal handlers would race it.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: graceMs }),
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ...(options.plugins ?? []),
    ],
    formatError(formatted, error) {
      const pub = toPublicError(formatted as never);
      if (pub.extensions.code === 'INTERNAL') {
        // Past the grace period the database closes under the requests cut: counted once.
        if (drain.cut) logger.debug({ err: error }, 'request cut by shutdown');
        else logger.error({ err: error }, 'internal error');
      }
      return pub as never;
    },
  });
  await apollo.start();

  healthRoutes(app, async () => {
    if (drain.closing) return false;
    await orm.em.getConnection().execute('select 1');
    return true;
  });
  app.use(drain.admit());
  options.routes?.(app);
  app.use(
    '/graphql',
    express.json({ limit: MAX_BODY_BYTES }),
    drain.track(
      expressMiddleware(apollo, {
        context: async ({ req }) => {
          const header = req.headers[INTERNAL_CONTEXT_HEADER];
          const { principal, meta } = await readInternalContext(
            Array.isArray(header) ? header[0] : header,
            options.secret,
          );
          // The request's own entity manager, made on first use: many requests never touch it.
          let em: EntityManager | undefined;
          return {
            principal,
            clientIp: meta.clientIp ?? null,
            get em() {
              return (em ??= orm.em.fork());
            },
            log: logger,
            loaders: new Map(),
          };
        },
      }),
    ),
  );
  app.use(bodyErrorHandler);

  let baseUrl = '';
  let closed: Promise<void> | undefined;
  return {
    app,
    httpServer,
    async listen(port, host = '127.0.0.1') {
      baseUrl = await listenOn(httpServer, port, host);
      return baseUrl;
    },
    url: () => baseUrl,
    close() {
      closed ??= (async () => {
        // drain() refuses new requests before its first await; Apollo's drain plugin stops the
        // listener and closes idle connections, and waits (as long) for busy ones.
        await Promise.all([drain.drain(), apollo.stop()]);
        if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
        await options.onClose?.();
        await orm.close(true);
      })();
      return closed;
    },
  };
}

/**
 * For main.ts: stop cleanly on SIGINT/SIGTERM (close(): refuse new requests, let those in flight
 * finish for up to SHUTDOWN_GRACE_MS, stop the job runner, then close the database), exit
 * non-zero on a failed start.
 */
export function runUntilSignal(
  name: string,
  logger: Logger,
  start: () => Promise<{ close(): Promise<void> }>,
): void {
  start()
    .then((service) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, `${name} stopping`);
        service
          .close()
          .then(() => process.exit(0))
          .catch((err: unknown) => {
            logger.error({ err }, `${name} failed to stop cleanly`);
            process.exit(1);
          });
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    })
    .catch((err: unknown) => {
      logger.fatal({ err }, `${name} failed to start`);
      process.exit(1);
    });
}
