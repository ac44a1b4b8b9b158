import pino, { type Logger } from 'pino';

/** Paths that never reach a log line, whatever a caller passes. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-coinslot-context"]',
  'headers.authorization',
  'headers["x-coinslot-context"]',
  '*.password',
  '*.secret',
  '*.apiKey',
  '*.token',
  '*.otp',
  '*.activationCode',
  '*.credentials',
  '*.clientSecret',
  '*.privateKey',
];

export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service },
  });
}

export type { Logger };
