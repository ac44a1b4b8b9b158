import http from 'node:http';
import {
  ApolloGateway,
  RemoteGraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
} from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import {
  ApolloServerPluginUsageReportingDisabled,
  ApolloServerPluginSchemaReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import {
  Kind,
  type GraphQLError,
  type ValidationContext,
  type DocumentNode,
  type OperationDefinitionNode,
  type FieldNode,
} from 'graphql';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  AppError,
  ErrorCode,
  INTERNAL_CONTEXT_HEADER,
  InternalContextSigner,
  MAX_BODY_BYTES,
  SHUTDOWN_GRACE_MS,
  ShutdownDrain,
  bodyErrorHandler,
  createLogger,
  healthRoutes,
  listenOn,
  toPublicError,
  unauthenticated,
  type Principal,
  type SubgraphName,
} from '@coinslot/kernel';
import { Authenticator } from './auth';
import { createFetcher, createSubgraphFetcher } from './fetcher';
import type { EventBus } from './events';
import { attachSubscriptions, type Executor, type SubscriptionField } from './subscriptions';
import { SUBSCRIPTION_FIELDS } from './subscription-fields';
import { cashDeskMayRead, notThisPayment, registerCashDesk } from './cash-desk';

export interface GatewayContext extends BaseContext {
  principal: Principal | null;
  clientIp?: string;
}

export interface GatewayOptions {
  supergraphSdl: string;
  subgraphUrls: Record<SubgraphName, string>;
  internalContextSecret: string;
  playerTokenSecret: string;
  bus: EventBus;
  subscriptions?: Record<string, SubscriptionField>;
  logLevel?: string;
  limits?: { maxDepth?: number; maxAliases?: number; maxCost?: number; maxTokens?: number };
  trustProxy?: string | boolean;
  /** Pages served beside the API (the cash desk comes with billing). */
  routes?: (app: express.Express) => void;
  /** How long close() lets requests in flight finish before cutting them (SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number;
}

export interface GatewayHandle {
  httpServer: http.Server;
  listen(port: number, host?: string): Promise<string>;
  url(): string;
  close(): Promise<void>;
}

/** Only __schema / __type / __typename at the root: what Sandbox needs before a key is set. */
function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const ops = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops[0];
  if (!op || op.operation !== 'query') return false;
  return op.selectionSet.selections.every(
    (s) =>
      s.kind === Kind.FIELD &&
      ['__schema', '__type', '__typename'].includes((s as FieldNode).name.value),
  );
}

/** Builds the gateway: auth, limits, masked errors, signed contexts to subgraphs, graphql-ws. */
export async function createGateway(options: GatewayOptions): Promise<GatewayHandle> {
  process.env.APOLLO_TELEMETRY_DISABLED ??= '1';
  const log = createLogger('gateway', options.logLevel);
  const signer = new InternalContextSigner(options.internalContextSecret);
  const fetcher = createFetcher();
  const subgraphFetcher = createSubgraphFetcher();
  const auth = new Authenticator(
    options.subgraphUrls.accounts,
    options.playerTokenSecret,
    signer,
    fetcher,
  );
  const limits = {
    maxDepth: 10,
    maxAliases: 15,
    maxCost: 5000,
    maxTokens: 2000,
    ...options.limits,
  };

  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name }) =>
      new RemoteGraphQLDataSource<GatewayContext>({
        url: options.subgraphUrls[name as SubgraphName],
        fetcher: subgraphFetcher,
        async willSendRequest({
          request,
          context,
        }: GraphQLDataSourceProcessOptions<GatewayContext>) {
          // Built here from the authenticated principal only; a client's header never passes.
          const principal = context.principal;
          if (!principal) throw unauthenticated();
          request.http?.headers.set(
            INTERNAL_CONTEXT_HEADER,
            await signer.sign(principal, { clientIp: context.clientIp }),
          );
        },
      }),
  });

  const app = express();
  app.disable('x-powered-by');
  // Behind a load balancer, set TRUST_PROXY (e.g. "loopback, 10.0.0.0/8") so req.ip is the client's.
  app.set('trust proxy', options.trustProxy ?? false);
  const httpServer = http.createServer(app);
  // Same shutdown as a subgraph's (createSubgraphServer): not ready at once, requests being
  // executed finish (a client that hung up included), the rest is cut with one warning.
  const graceMs = options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS;
  const drain = new ShutdownDrain('gateway', log, graceMs);

  const authPlugin: ApolloServerPlugin<GatewayContext> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, document, operationName }) {
          if (!contextValue.principal && !isIntrospectionOnly(document, operationName))
            throw unauthenticated();
        },
      };
    },
  };

  const reject = {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [(ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(err)],
  };
  let disposeWs: (() => Promise<void>) | null = null;
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: true,
    csrfPrevention: true,
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: true,
    parseOptions: { maxTokens: limits.maxTokens },
    validationRules: [
      // Reported as validation errors (BAD_USER_INPUT), not thrown (which would be INTERNAL).
      maxDepthRule({ n: limits.maxDepth, ignoreIntrospection: true, ...reject }),
      maxAliasesRule({ n: limits.maxAliases, ...reject }),
      costLimitRule({ maxCost: limits.maxCost, ignoreIntrospection: true, ...reject }),
      maxDirectivesRule({ n: 20, ...reject }),
    ],
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: graceMs }),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }),
      authPlugin,
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await disposeWs?.();
            },
          };
        },
      },
    ],
    formatError(formatted, error) {
      const pub = toPublicError(formatted as never);
      if (pub.extensions.code === ErrorCode.INTERNAL) {
        if (drain.cut) log.debug({ err: error }, 'request cut by shutdown');
        else log.error({ err: error }, 'internal error');
      }
      return pub as never;
    },
  });
  await apollo.start();
  // A query run inside the gateway as a principal: subscription re-reads and the cash desk.
  const executeAs: Executor = async (document, variables, principal) => {
    const res = await apollo.executeOperation<Record<string, unknown>>(
      { query: document as never, variables } as never,
      { contextValue: { principal } },
    );
    if (res.body.kind !== 'single') return { errors: [] };
    return res.body.singleResult as never;
  };

  healthRoutes(app, async () => !drain.closing);
  app.use(drain.admit());
  // Single-use download links minted by a subgraph (scratch-card printing exports) are served
  // through the gateway, the only public address; the token in the path is the authorisation.
  app.get('/exports/scratch-cards/:token', async (req, res) => {
    const base = options.subgraphUrls['scratch-cards'].replace(/\/graphql$/, '');
    try {
      const upstream = await fetcher(`${base}/exports/${encodeURIComponent(req.params.token)}`);
      res.status(upstream.status);
      for (const h of ['content-type', 'content-disposition', 'cache-control']) {
        const v = upstream.headers.get(h);
        if (v) res.setHeader(h, v);
      }
      upstream.body.pipe(res);
    } catch (err) {
      log.warn({ err }, 'export download failed');
      if (!res.headersSent)
        res
          .status(502)
          .json({ errors: [{ message: 'Export unavailable.', extensions: { code: 'INTERNAL' } }] });
      else res.destroy();
    }
  });
  options.routes?.(app);
  // The page a CARD payment without a card token redirects to (gateway/README.md, "Cash desk").
  registerCashDesk(app, {
    playerTokenSecret: options.playerTokenSecret,
    billingUrl: options.subgraphUrls.billing,
    signer,
    fetcher,
    execute: executeAs,
    log,
  });
  app.use(
    '/graphql',
    express.json({ limit: MAX_BODY_BYTES }),
    drain.track(
      expressMiddleware(apollo, {
        context: async ({ req }) => {
          if (req.headers[INTERNAL_CONTEXT_HEADER] !== undefined) {
            throw new AppError(
              ErrorCode.FORBIDDEN,
              `The ${INTERNAL_CONTEXT_HEADER} header is internal and not accepted from clients.`,
              {},
              403,
            );
          }
          return {
            principal: await auth.authenticate(req.headers.authorization),
            clientIp: req.ip,
          };
        },
      }),
    ),
  );
  app.use(bodyErrorHandler);

  const ws = attachSubscriptions({
    httpServer,
    schema: gateway.schema!,
    fields: options.subscriptions ?? SUBSCRIPTION_FIELDS,
    bus: options.bus,
    // graphql-ws also takes the cash desk's token, limited to re-reading its one payment.
    auth: new Authenticator(
      options.subgraphUrls.accounts,
      options.playerTokenSecret,
      signer,
      fetcher,
      { acceptCashDeskTokens: true },
    ),
    log,
    execute: async (document, variables, principal) =>
      cashDeskMayRead(principal, document, variables)
        ? executeAs(document, variables, principal)
        : notThisPayment(),
  });
  disposeWs = ws.dispose;

  let baseUrl = '';
  let closed: Promise<void> | undefined;
  return {
    httpServer,
    async listen(port, host = '127.0.0.1') {
      baseUrl = await listenOn(httpServer, port, host);
      return baseUrl;
    },
    url: () => baseUrl,
    close() {
      closed ??= (async () => {
        await Promise.all([drain.drain(), apollo.stop()]);
        if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
        await options.bus.close();
        fetcher.destroy();
        await subgraphFetcher.destroy();
      })();
      return closed;
    },
  };
}
