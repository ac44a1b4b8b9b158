import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Activation codes are stored as HMAC-SHA256(CARD_CODE_KEY, normalised code): a stolen table
 * cannot be brute-forced offline without the key, and a lookup is one index probe.
 */
export class CodeHasher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('CARD_CODE_KEY must be 32 bytes');
  }

  hash(normalisedCode: string): Buffer {
    return createHmac('sha256', this.key).update(normalisedCode, 'latin1').digest();
  }

  hashHex(normalisedCode: string): string {
    return createHmac('sha256', this.key).update(normalisedCode, 'latin1').digest('hex');
  }
}

export interface SealedChunk {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/**
 * The vault: the clear codes of one generation chunk, fixed-width and concatenated in running
 * order, sealed with AES-256-GCM under CARD_VAULT_KEY. The batch id and the chunk's first running
 * number are the additional data, so a chunk cannot be swapped into another batch or position.
 */
export class Vault {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('CARD_VAULT_KEY must be 32 bytes');
  }

  seal(batchId: string, firstRunning: number, codes: readonly string[]): SealedChunk {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${batchId}:${firstRunning}`));
    const plain = Buffer.from(codes.join(''), 'latin1');
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    return { iv, tag: cipher.getAuthTag(), ciphertext };
  }

  open(batchId: string, firstRunning: number, codeLength: number, sealed: SealedChunk): string[] {
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.iv);
    decipher.setAAD(Buffer.from(`${batchId}:${firstRunning}`));
    decipher.setAuthTag(sealed.tag);
    const plain = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
    const codes = new Array<string>(plain.length / codeLength);
    for (let i = 0; i < codes.length; i += 1)
      codes[i] = plain.toString('latin1', i * codeLength, (i + 1) * codeLength);
    plain.fill(0);
    return codes;
  }
}
