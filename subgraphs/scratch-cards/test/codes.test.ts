import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import {
  CodeCodec,
  DEFAULT_ALPHABET,
  DEFAULT_FORMAT,
  parseSerialNumber,
  serialNumber,
  validateFormat,
  validateFormatForBatch,
  type CardFormat,
} from '../src/codes/format';
import { CodeHasher, Vault } from '../src/codes/crypto';

const codec = new CodeCodec(DEFAULT_FORMAT);

describe('activation codes', () => {
  it('uses an unambiguous alphabet: no 0, O, 1, I or L', () => {
    for (const ch of '0O1IL') expect(DEFAULT_ALPHABET).not.toContain(ch);
    expect(new Set(DEFAULT_ALPHABET).size).toBe(DEFAULT_ALPHABET.length);
  });

  it('generates well-formed, evenly spread codes of 16 characters printed as 4×4', () => {
    const codes = codec.generate(20_000);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes.slice(0, 100)) {
      expect(c).toMatch(/^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{16}$/);
      expect(codec.isWellFormed(c)).toBe(true);
      expect(codec.printable(c)).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    }
    // Every symbol appears in every position at roughly 1/31 (a modulo bias would show here).
    const counts = new Map<string, number>();
    for (const c of codes) counts.set(c[0]!, (counts.get(c[0]!) ?? 0) + 1);
    for (const ch of DEFAULT_ALPHABET)
      expect(counts.get(ch) ?? 0).toBeGreaterThan(20_000 / 31 / 1.4);
  });

  it('normalises what players type: case, spaces and dashes', () => {
    const [c] = codec.generate(1);
    const typed = ` ${codec.printable(c!).toLowerCase().replace(/-/g, ' - ')} `;
    expect(codec.normalise(typed)).toBe(c);
    expect(codec.isWellFormed(codec.normalise(typed))).toBe(true);
  });

  it('catches every single-character typo and every swap of two different characters (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 1, max: 30 }),
        (i, j, shift) => {
          const [code] = codec.generate(1);
          const chars = code!.split('');
          const typo = [...chars];
          typo[i] = DEFAULT_ALPHABET[(DEFAULT_ALPHABET.indexOf(chars[i]!) + shift) % 31]!;
          expect(codec.isWellFormed(typo.join(''))).toBe(false);
          if (chars[i] !== chars[j]) {
            const swapped = [...chars];
            [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
            expect(codec.isWellFormed(swapped.join(''))).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses wrong lengths and characters outside the alphabet', () => {
    const [c] = codec.generate(1);
    expect(codec.isWellFormed(c!.slice(1))).toBe(false);
    expect(codec.isWellFormed(c!.slice(0, 15) + 'O')).toBe(false);
    expect(codec.isWellFormed('')).toBe(false);
  });

  it('works with an even alphabet (Luhn mod N)', () => {
    const hex = new CodeCodec({ alphabet: '0123456789ABCDEF', codeLength: 20, groupSize: 5 });
    const codes = hex.generate(500);
    for (const c of codes) expect(hex.isWellFormed(c)).toBe(true);
    const c = codes[0]!;
    const typo = c[3] === 'A' ? 'B' : 'A';
    expect(hex.isWellFormed(c.slice(0, 3) + typo + c.slice(4))).toBe(false);
  });
});

describe('card formats: entropy and shape', () => {
  const base: CardFormat = { ...DEFAULT_FORMAT };
  const code = (f: CardFormat) => {
    try {
      validateFormat(f);
      return 'ok';
    } catch (e) {
      return (e as { extensions: { code: string; field?: string } }).extensions;
    }
  };

  it('accepts the default (74 random bits)', () => {
    expect(code(base)).toBe('ok');
  });

  it('refuses a code space under 2^64', () => {
    expect(code({ ...base, codeLength: 13 })).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'codeLength',
    }); // 12 × log2(31) ≈ 59 bits
    expect(code({ ...base, codeLength: 14 })).toBe('ok'); // ≈ 64.4 bits
  });

  it('refuses alphabets that are ambiguous in shape or cannot carry a check character', () => {
    expect(code({ ...base, alphabet: 'AABCDEFGHJKMNPQRST' })).toMatchObject({ field: 'alphabet' });
    expect(code({ ...base, alphabet: 'abcdefghjkmnpqrstu' })).toMatchObject({ field: 'alphabet' });
    expect(
      code({ ...base, alphabet: 'ABCDEFGHJKMNPQRSTUVWXYZ2345678'.slice(0, 27), codeLength: 20 }),
    ).toMatchObject({ field: 'alphabet' }); // 27 = 3^3
  });

  it('refuses a batch too large for its code space or its running-number width', () => {
    // 31^14 ≈ 7.6e20: enough for 1e14 cards at 1e6 per card, not for 1e15.
    const short = { ...base, codeLength: 15 };
    expect(() => validateFormatForBatch(short, 1_000_000)).not.toThrow();
    const tight: CardFormat = { ...base, alphabet: '0123456789ABCDEF', codeLength: 17 }; // 16^16 = 2^64 exactly
    expect(() => validateFormatForBatch(tight, 1)).not.toThrow();
    // At the 2^64 floor, 10^6 codes per card stop fitting beyond 1.8e13 cards.
    expect(() => validateFormatForBatch(tight, 20_000_000_000_000)).toThrow(/fewer than 10\^6/);
    expect(() => validateFormatForBatch({ ...base, runningWidth: 4 }, 10_000)).toThrow(/5 digits/);
  });
});

describe('serial numbers', () => {
  it('carry the batch number, the running number and a Luhn digit', () => {
    const s = serialNumber('GEMS', 42, 7, 7);
    expect(s).toMatch(/^GEMS-000042-0000007\d$/);
    expect(parseSerialNumber(s.toLowerCase())).toBe(s);
    const wrong = s.slice(0, -1) + String((Number(s.slice(-1)) + 1) % 10);
    expect(parseSerialNumber(wrong)).toBeNull();
  });
});

describe('hash and vault', () => {
  it('hashes with the key, and seals a chunk so that it opens only in its place', () => {
    const key = randomBytes(32);
    expect(new CodeHasher(key).hash('ABC')).toEqual(new CodeHasher(key).hash('ABC'));
    expect(new CodeHasher(key).hash('ABC')).not.toEqual(
      new CodeHasher(randomBytes(32)).hash('ABC'),
    );
    const vault = new Vault(randomBytes(32));
    const codes = codec.generate(10);
    const sealed = vault.seal('batch-a', 1, codes);
    expect(sealed.ciphertext.toString('latin1')).not.toContain(codes[0]);
    expect(vault.open('batch-a', 1, 16, sealed)).toEqual(codes);
    expect(() => vault.open('batch-b', 1, 16, sealed)).toThrow();
    expect(() => vault.open('batch-a', 11, 16, sealed)).toThrow();
  });
});
