import { GraphQLError } from 'graphql';
import { Agent, request } from 'undici';
import { InternalContextSigner, INTERNAL_CONTEXT_HEADER, type Principal } from './context';
import { AppError, ErrorCode, PUBLIC_ERROR_CODES } from './errors';

export interface InternalClientOptions {
  /** The owning subgraph's own GraphQL endpoint, e.g. http://127.0.0.1:4002/graphql. */
  url: string;
  /** The calling service's name; it becomes the principal {kind: 'service', service}. */
  service: string;
  secret: string;
  timeoutMs?: number;
  connections?: number;
}

/**
 * How one subgraph commands another (billing → channels, billing → accounts ledger): a GraphQL
 * call straight to the owner's endpoint with a service-signed internal context, over a
 * keep-alive pool. Errors with a contract code are re-thrown as they are, so a caller can pass
 * them to its own client; anything else is an internal failure.
 */
export class InternalClient {
  private readonly agent: Agent;
  private readonly signer: InternalContextSigner;
  private readonly principal: Principal;
  private readonly origin: string;
  private readonly path: string;

  constructor(private readonly options: InternalClientOptions) {
    const u = new URL(options.url);
    this.origin = u.origin;
    this.path = u.pathname + u.search;
    this.agent = new Agent({ connections: options.connections ?? 64, keepAliveTimeout: 30_000 });
    this.signer = new InternalContextSigner(options.secret);
    this.principal = { kind: 'service', service: options.service };
  }

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await request(this.origin + this.path, {
      method: 'POST',
      dispatcher: this.agent,
      headers: {
        'content-type': 'application/json',
        [INTERNAL_CONTEXT_HEADER]: await this.signer.sign(this.principal),
      },
      body: JSON.stringify({ query, variables }),
      headersTimeout: this.options.timeoutMs ?? 30_000,
      bodyTimeout: this.options.timeoutMs ?? 30_000,
    });
    const body = (await res.body.json()) as {
      data?: T;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    };
    const first = body.errors?.[0];
    if (first) {
      const code = String(first.extensions?.code ?? '');
      if (PUBLIC_ERROR_CODES.has(code) && code !== ErrorCode.INTERNAL) {
        const { code: _c, ...rest } = first.extensions ?? {};
        throw new AppError(code as ErrorCode, first.message, rest);
      }
      throw new GraphQLError(`internal call to ${this.options.url} failed: ${first.message}`);
    }
    if (!body.data)
      throw new GraphQLError(
        `internal call to ${this.options.url} returned no data (HTTP ${res.statusCode})`,
      );
    return body.data;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
