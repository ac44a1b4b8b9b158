import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for channel credentials (and the MSISDN a resolver needs after a restart):
 * AES-256-GCM with a random 96-bit IV per value and the row id as additional authenticated data,
 * so a ciphertext copied onto another row does not decrypt.
 *
 * Keys come from config `CREDENTIALS_KEYS`: comma-separated `id:base64key` (32-byte keys), the
 * first is the current one. Rows remember their key id, so old rows still decrypt after a new
 * key is put first, and `rotateCredentialsKey` re-encrypts them with the current key.
 */
export interface Sealed {
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export class CredentialsKeyring {
  private readonly keys: Map<string, Buffer>;
  private readonly derived = new Map<string, Buffer>();
  readonly currentKeyId: string;

  private constructor(keys: Map<string, Buffer>, current: string) {
    this.keys = keys;
    this.currentKeyId = current;
  }

  /** Parses `id:base64key[,id:base64key…]`; a lone base64 key gets the id `k0`. */
  static parse(spec: string): CredentialsKeyring {
    const keys = new Map<string, Buffer>();
    let current: string | undefined;
    const parts = spec
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (parts.length === 0)
      throw new Error('CREDENTIALS_KEYS is empty: give at least one id:base64key');
    for (const part of parts) {
      const colon = part.indexOf(':');
      const id = colon > 0 ? part.slice(0, colon) : 'k0';
      const b64 = colon > 0 ? part.slice(colon + 1) : part;
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(id))
        throw new Error(`CREDENTIALS_KEYS: bad key id "${id}"`);
      const key = Buffer.from(b64, 'base64');
      if (key.length !== 32)
        throw new Error(
          `CREDENTIALS_KEYS: key "${id}" must be 32 bytes of base64 (got ${key.length})`,
        );
      if (keys.has(id)) throw new Error(`CREDENTIALS_KEYS: key id "${id}" appears twice`);
      keys.set(id, key);
      current ??= id;
    }
    return new CredentialsKeyring(keys, current!);
  }

  /** A fresh random key spec, for tests and the demo. */
  static generateSpec(id = 'k1'): string {
    return `${id}:${randomBytes(32).toString('base64')}`;
  }

  /**
   * A keyed digest (HMAC-SHA256 under a key derived from key `keyId` for `purpose`): MSISDN
   * hashes and request hashes, which a plain SHA-256 would let anyone brute-force.
   */
  digest(keyId: string, purpose: string, data: string): string {
    const cacheKey = `${keyId}\u0000${purpose}`;
    let derived = this.derived.get(cacheKey);
    if (!derived) {
      const key = this.keys.get(keyId);
      if (!key) throw new Error(`key "${keyId}" is not in CREDENTIALS_KEYS`);
      derived = Buffer.from(
        hkdfSync('sha256', key, Buffer.alloc(0), `coinslot-channels:${purpose}`, 32),
      );
      this.derived.set(cacheKey, derived);
    }
    return createHmac('sha256', derived).update(data, 'utf8').digest('hex');
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  seal(plaintext: string, aad: string): Sealed {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId: this.currentKeyId, iv, tag: cipher.getAuthTag(), ciphertext };
  }

  open(sealed: Sealed, aad: string): string {
    const key = this.keys.get(sealed.keyId);
    if (!key)
      throw new Error(
        `credentials were encrypted with key "${sealed.keyId}", which CREDENTIALS_KEYS no longer holds`,
      );
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  }

  /** One text value `keyId.iv.tag.ciphertext` (base64url), for single columns. */
  sealToText(plaintext: string, aad: string): string {
    const s = this.seal(plaintext, aad);
    return [
      s.keyId,
      s.iv.toString('base64url'),
      s.tag.toString('base64url'),
      s.ciphertext.toString('base64url'),
    ].join('.');
  }

  openText(text: string, aad: string): string {
    const [keyId, iv, tag, ct] = text.split('.');
    if (!keyId || iv === undefined || tag === undefined || ct === undefined)
      throw new Error('not a sealed value');
    return this.open(
      {
        keyId,
        iv: Buffer.from(iv, 'base64url'),
        tag: Buffer.from(tag, 'base64url'),
        ciphertext: Buffer.from(ct, 'base64url'),
      },
      aad,
    );
  }
}
