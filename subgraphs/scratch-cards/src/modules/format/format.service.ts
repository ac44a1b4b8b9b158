import { badInput, isUuid, newId, query, type EntityManager } from '@coinslot/kernel';
import { CodeCodec, DEFAULT_FORMAT, validateFormat, type CardFormat } from '../../codes/format';
import { ScratchCardFormat, type SetScratchCardFormatInput } from '../../types';

interface FormatRow {
  id: string;
  merchant_id: string;
  serial_prefix: string;
  running_width: number;
  alphabet: string;
  code_length: number;
  group_size: number;
}

export function toFormat(merchantId: string, f: CardFormat, id: string | null): ScratchCardFormat {
  return Object.assign(new ScratchCardFormat(), {
    id,
    merchantId,
    ...f,
    entropyBits: Math.floor((f.codeLength - 1) * Math.log2(f.alphabet.length)),
  });
}

export class FormatService {
  /** The merchant's current format (the latest it set), or the built-in default. */
  async current(
    em: EntityManager,
    merchantId: string,
  ): Promise<{ id: string | null; format: CardFormat }> {
    const [row] = await query<FormatRow>(
      em,
      `select * from scratch_cards.card_format where merchant_id = ? order by created_at desc, id desc limit 1`,
      [merchantId],
    );
    if (!row) return { id: null, format: DEFAULT_FORMAT };
    return {
      id: row.id,
      format: {
        serialPrefix: row.serial_prefix,
        runningWidth: row.running_width,
        alphabet: row.alphabet,
        codeLength: row.code_length,
        groupSize: row.group_size,
      },
    };
  }

  /** Formats are versions: a new one applies to later batches; earlier batches keep theirs. */
  async set(
    em: EntityManager,
    input: SetScratchCardFormatInput,
    createdBy: string,
  ): Promise<{ id: string; format: CardFormat }> {
    if (!isUuid(input.merchantId)) throw badInput('merchantId must be a UUID.', 'merchantId');
    const format = validateFormat({
      serialPrefix: input.serialPrefix,
      runningWidth: input.runningWidth ?? DEFAULT_FORMAT.runningWidth,
      alphabet: input.alphabet ?? DEFAULT_FORMAT.alphabet,
      codeLength: input.codeLength ?? DEFAULT_FORMAT.codeLength,
      groupSize: input.groupSize ?? DEFAULT_FORMAT.groupSize,
    });
    const id = newId();
    await query(
      em,
      `insert into scratch_cards.card_format (id, merchant_id, serial_prefix, running_width, alphabet, code_length, group_size, created_by)
       values (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        id,
        input.merchantId,
        format.serialPrefix,
        format.runningWidth,
        format.alphabet,
        format.codeLength,
        format.groupSize,
        createdBy,
      ],
    );
    return { id, format };
  }
}

export const formats = new FormatService();

/**
 * The code shapes a merchant's cards use (one per distinct alphabet/length among its batches),
 * so an activation can reject a mistyped code before any lookup. Cached briefly; a miss refreshes.
 */
export class CodecCache {
  private readonly byShape = new Map<string, CodeCodec>();
  private readonly byMerchant = new Map<string, { codecs: CodeCodec[]; at: number }>();

  constructor(private readonly ttlMs = 60_000) {}

  codec(format: Pick<CardFormat, 'alphabet' | 'codeLength' | 'groupSize'>): CodeCodec {
    const key = `${format.alphabet}:${format.codeLength}:${format.groupSize}`;
    let c = this.byShape.get(key);
    if (!c) {
      c = new CodeCodec(format);
      this.byShape.set(key, c);
    }
    return c;
  }

  /** `emOf` is called only on a cache miss (most calls never need the database). */
  async forMerchant(
    emOf: () => EntityManager,
    merchantId: string,
    fresh = false,
  ): Promise<CodeCodec[]> {
    const hit = this.byMerchant.get(merchantId);
    if (hit && !fresh && Date.now() - hit.at < this.ttlMs) return hit.codecs;
    const rows = await query<{ alphabet: string; code_length: number; group_size: number }>(
      emOf(),
      `select distinct alphabet, code_length, group_size from scratch_cards.batch where merchant_id = ?`,
      [merchantId],
    );
    const codecs = rows.map((r) =>
      this.codec({ alphabet: r.alphabet, codeLength: r.code_length, groupSize: r.group_size }),
    );
    // No batch yet: judge typing against the default shape (the lookup will find nothing anyway).
    if (codecs.length === 0) codecs.push(this.codec(DEFAULT_FORMAT));
    if (this.byMerchant.size > 10_000) this.byMerchant.clear();
    this.byMerchant.set(merchantId, { codecs, at: Date.now() });
    return codecs;
  }
}
