import { GraphQLError } from 'graphql';

/** The stable error codes of the client contract (CONTRACT.md, "Errors"). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  IDEMPOTENCY_KEY_IN_USE: 'IDEMPOTENCY_KEY_IN_USE',
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const PUBLIC_ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * Only a failed authentication sets the HTTP status (the whole request is refused). Every other
 * error travels in a 200 GraphQL response: a non-2xx status from a subgraph would make the
 * gateway replace the error with "403: Forbidden".
 */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
};

/** An error a client may see: a stable code and a message that says what to do. */
export class AppError extends GraphQLError {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    httpStatus?: number,
  ) {
    const status = httpStatus ?? HTTP_STATUS[code];
    super(message, {
      extensions: { code, ...details, ...(status ? { http: { status } } : {}) },
    });
  }
}

export const unauthenticated = (
  message = 'Authentication required: send Authorization: Bearer <key or token>.',
) => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this.') =>
  new AppError(ErrorCode.FORBIDDEN, message);
export const badInput = (message: string, field?: string) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found.`);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
export const rateLimited = (message: string, retryAfterSeconds?: number) =>
  new AppError(ErrorCode.RATE_LIMITED, message, retryAfterSeconds ? { retryAfterSeconds } : {});

/**
 * Maps any error to what a client may see: AppErrors and the contract's codes pass,
 * GraphQL parse and validation failures become BAD_USER_INPUT, everything else is masked.
 */
export function toPublicError(formatted: {
  message: string;
  extensions?: Record<string, unknown>;
  locations?: unknown;
  path?: unknown;
}): { message: string; extensions: Record<string, unknown>; locations?: unknown; path?: unknown } {
  const code = String(formatted.extensions?.code ?? '');
  const { locations, path } = formatted;
  if (PUBLIC_ERROR_CODES.has(code) && code !== ErrorCode.INTERNAL) {
    const {
      stacktrace: _s,
      exception: _e,
      http: _h,
      serviceName: _n,
      ...rest
    } = formatted.extensions ?? {};
    return { message: formatted.message, extensions: { ...rest, code }, locations, path };
  }
  if (
    code === 'GRAPHQL_PARSE_FAILED' ||
    code === 'GRAPHQL_VALIDATION_FAILED' ||
    code === 'BAD_REQUEST' ||
    code === 'PERSISTED_QUERY_NOT_SUPPORTED' ||
    code === 'OPERATION_RESOLUTION_FAILURE'
  ) {
    return {
      message: formatted.message,
      extensions: { code: ErrorCode.BAD_USER_INPUT, reason: code },
      locations,
      path,
    };
  }
  return {
    message: 'Internal error. It has been logged.',
    extensions: { code: ErrorCode.INTERNAL },
    path,
  };
}
