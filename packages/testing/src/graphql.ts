import { signInternalContext, INTERNAL_CONTEXT_HEADER, type Principal } from '@coinslot/kernel';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: {
    message: string;
    extensions?: { code?: string } & Record<string, unknown>;
    path?: unknown[];
  }[];
}

/** POSTs a GraphQL operation the way a client does; returns status, data and errors. */
export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: { data?: T; errors?: GraphQLResponse['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, data: body.data, errors: body.errors };
}

/** Headers that make a direct subgraph call look like it came through the gateway. */
export async function asPrincipal(
  principal: Principal,
  secret: string,
): Promise<Record<string, string>> {
  return { [INTERNAL_CONTEXT_HEADER]: await signInternalContext(principal, secret) };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The codes of a response's errors, for assertions. */
export const codes = (r: GraphQLResponse) => (r.errors ?? []).map((e) => e.extensions?.code);
