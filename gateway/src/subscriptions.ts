import type http from 'node:http';
import {
  GraphQLError,
  Kind,
  parse,
  print,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  validate,
  valueFromASTUntyped,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { ErrorCode, toPublicError, type Principal } from '@coinslot/kernel';
import type { Authenticator } from './auth';
import type { EventBus } from './events';

/**
 * How one subscription field is served: the topic its events come on, and the query field that
 * re-reads the object through the gateway on each event, so the subscriber's selection set —
 * including fields of other subgraphs — is resolved exactly as a query would resolve it.
 */
export interface SubscriptionField {
  topic(args: Record<string, unknown>): string;
  /** Query field to re-read with, and how the subscription's arguments map onto it. */
  queryField: string;
  queryArgs(args: Record<string, unknown>): Record<string, unknown>;
  /** Whether the event ends the subscription (e.g. a final payment status). */
  isFinal?(event: unknown): boolean;
  /** Whether a re-read result is already final (nothing more will change). */
  isFinalResult?(result: ExecutionResult): boolean;
}

export type Executor = (
  document: DocumentNode,
  variables: Record<string, unknown>,
  principal: Principal,
) => Promise<ExecutionResult>;

function badInput(err: GraphQLError): GraphQLError {
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    extensions: { code: ErrorCode.BAD_USER_INPUT },
  });
}

function rootField(
  doc: DocumentNode,
  operationName?: string | null,
): { op: OperationDefinitionNode; field: FieldNode } {
  const ops = doc.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops[0];
  if (!op || op.operation !== 'subscription')
    throw new GraphQLError('Only subscriptions are served over WebSocket.', {
      extensions: { code: ErrorCode.BAD_USER_INPUT },
    });
  const fields = op.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD);
  if (fields.length !== 1)
    throw new GraphQLError('A subscription selects exactly one root field.', {
      extensions: { code: ErrorCode.BAD_USER_INPUT },
    });
  return { op, field: fields[0]! };
}

/**
 * Rewrites `subscription S($x) { sub(a: $x) { …sel } }` into
 * `query S($x) { sub: queryField(b: $x) { …sel } }` with arguments renamed by the field map.
 */
export function toRequery(
  field: FieldNode,
  def: SubscriptionField,
  args: Record<string, unknown>,
  fragments = '',
): { document: DocumentNode; variables: Record<string, unknown> } {
  const queryArgs = def.queryArgs(args);
  const varDefs = Object.keys(queryArgs)
    .map((name) => `$__${name}: ID!`)
    .join(', ');
  const argList = Object.keys(queryArgs)
    .map((name) => `${name}: $__${name}`)
    .join(', ');
  const selection = field.selectionSet ? print(field.selectionSet) : '';
  const text = `query(${varDefs}) { ${field.alias?.value ?? field.name.value}: ${def.queryField}(${argList}) ${selection} } ${fragments}`;
  const variables = Object.fromEntries(Object.entries(queryArgs).map(([k, v]) => [`__${k}`, v]));
  return { document: parse(text), variables };
}

export interface SubscriptionServerOptions {
  httpServer: http.Server;
  schema: GraphQLSchema;
  fields: Record<string, SubscriptionField>;
  bus: EventBus;
  auth: Authenticator;
  execute: Executor;
  log: Logger;
}

/**
 * graphql-ws on the gateway's own HTTP server and path. Authorisation happens twice: the
 * connection needs a valid key or token, and the first re-read on subscribe must succeed for
 * this principal (so a player cannot subscribe to another player's payment).
 */
export function attachSubscriptions(options: SubscriptionServerOptions): {
  dispose(): Promise<void>;
} {
  const wss = new WebSocketServer({ server: options.httpServer, path: '/graphql' });
  const server = useServer<
    Record<string, unknown>,
    { principal?: Principal; authorization?: string }
  >(
    {
      schema: options.schema,
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        try {
          const principal = await options.auth.authenticate(
            typeof raw === 'string' ? raw : undefined,
          );
          if (!principal) return false;
          ctx.extra.principal = principal;
          ctx.extra.authorization = typeof raw === 'string' ? raw : undefined;
          return true;
        } catch {
          return false;
        }
      },
      onSubscribe: (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (err) {
          return [
            err instanceof GraphQLError ? err : new GraphQLError('Unreadable subscription.'),
          ].map(badInput);
        }
        const errors = validate(options.schema, document);
        if (errors.length) return errors.map(badInput);
        return {
          schema: options.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: { principal: ctx.extra.principal, authorization: ctx.extra.authorization },
        };
      },
      // Queries and mutations go over HTTP; the socket serves subscriptions only.
      execute: () => ({
        errors: [badInput(new GraphQLError('Send queries and mutations over HTTP POST /graphql.'))],
      }),
      subscribe: (args: ExecutionArgs) => {
        const { principal, authorization } = args.contextValue as {
          principal: Principal;
          authorization?: string;
        };
        try {
          const { op, field } = rootField(args.document, args.operationName);
          const def = options.fields[field.name.value];
          if (!def)
            return {
              errors: [badInput(new GraphQLError(`Unknown subscription "${field.name.value}".`))],
            };
          const vars = (args.variableValues ?? {}) as Record<string, unknown>;
          const fieldArgs = Object.fromEntries(
            (field.arguments ?? []).map((a) => [
              a.name.value,
              a.value.kind === Kind.VARIABLE
                ? vars[a.value.name.value]
                : valueFromASTUntyped(a.value),
            ]),
          );
          const fragments = args.document.definitions
            .filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)
            .map((d) => print(d))
            .join('\n');
          return subscribeField({
            ...options,
            principal,
            authorization,
            def,
            op,
            field,
            args: fieldArgs,
            fragments,
          });
        } catch (err) {
          return {
            errors: [
              badInput(
                err instanceof GraphQLError ? err : new GraphQLError('Invalid subscription.'),
              ),
            ],
          };
        }
      },
    },
    wss,
  );

  function subscribeField(
    o: SubscriptionServerOptions & {
      principal: Principal;
      authorization: string | undefined;
      def: SubscriptionField;
      op: OperationDefinitionNode;
      field: FieldNode;
      args: Record<string, unknown>;
      fragments: string;
    },
  ) {
    const { document, variables } = toRequery(o.field, o.def, o.args, o.fragments);
    const reread = async (): Promise<ExecutionResult> => {
      // The credential is checked again on every event: an expired player token or a revoked key
      // ends the subscription instead of streaming on for as long as the socket stays open.
      try {
        await o.auth.authenticate(o.authorization);
      } catch (err) {
        const e = err instanceof GraphQLError ? err : new GraphQLError('Authentication expired.');
        return {
          errors: [
            new GraphQLError(e.message, { extensions: { code: ErrorCode.UNAUTHENTICATED } }),
          ],
        };
      }
      const result = await o.execute(document, variables, o.principal);
      // graphql-ws serialises errors with toJSON(): public errors go out as GraphQLErrors.
      const errors = result.errors?.map((e) => {
        const pub = toPublicError(e as never);
        return new GraphQLError(pub.message, {
          path: pub.path as never,
          extensions: pub.extensions,
        });
      });
      return { ...result, errors };
    };
    return (async function* (): AsyncGenerator<ExecutionResult> {
      const queue: unknown[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = o.bus.subscribe(o.def.topic(o.args), (event) => {
        queue.push(event);
        wake?.();
      });
      try {
        // Authorise by reading once: a caller who cannot read the object cannot subscribe to it.
        // The current state goes out first, so a status that became final before the subscription
        // started is still delivered.
        const first = await reread();
        yield first;
        if (first.errors?.length || o.def.isFinalResult?.(first)) return;
        for (;;) {
          if (queue.length === 0) await new Promise<void>((r) => (wake = r));
          wake = null;
          const event = queue.shift();
          const result = await reread();
          yield result;
          // The final status ends the subscription (the client sees it completed), and so does a
          // credential that stopped being valid.
          if (o.def.isFinal?.(event) || o.def.isFinalResult?.(result) || result.errors?.length)
            return;
        }
      } finally {
        unsubscribe();
      }
    })();
  }

  return {
    async dispose() {
      await server.dispose();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
