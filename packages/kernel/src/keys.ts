import { createHash, randomBytes } from 'node:crypto';

/** Prefixes tell a key's kind at a glance (and let secret scanners find leaked ones). */
export const KEY_PREFIX = { portal: 'csp_', admin: 'csa_' } as const;

/** A new 256-bit API key. Shown to its owner once; only its hash is stored. */
export function generateApiKey(kind: keyof typeof KEY_PREFIX): { key: string; prefix: string } {
  const key = KEY_PREFIX[kind] + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, 10) };
}

/** Keys have 256 bits of entropy, so one SHA-256 is enough to store and look them up. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
