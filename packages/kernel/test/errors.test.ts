import { toPublicError, AppError, ErrorCode } from '../src';

describe('toPublicError', () => {
  it('masks anything that is not a contract code, dropping details and stack', () => {
    const pub = toPublicError({
      message: 'relation "accounts.player" does not exist at 10.0.0.3',
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] },
    });
    expect(pub).toEqual({
      message: 'Internal error. It has been logged.',
      extensions: { code: 'INTERNAL' },
      path: undefined,
    });
  });

  it('keeps contract codes and their safe details, drops stack traces and service names', () => {
    const e = new AppError(ErrorCode.BAD_USER_INPUT, 'bad country', { field: 'country' });
    const pub = toPublicError({
      message: e.message,
      extensions: { ...e.extensions, stacktrace: ['x'], serviceName: 'accounts' },
    });
    expect(pub.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'country' });
  });

  it('turns parse and validation failures into BAD_USER_INPUT with the reason', () => {
    expect(
      toPublicError({ message: 'Syntax Error', extensions: { code: 'GRAPHQL_PARSE_FAILED' } })
        .extensions,
    ).toEqual({ code: 'BAD_USER_INPUT', reason: 'GRAPHQL_PARSE_FAILED' });
    expect(
      toPublicError({
        message: 'Cannot query field',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      }).extensions.code,
    ).toBe('BAD_USER_INPUT');
  });
});
