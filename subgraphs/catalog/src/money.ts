import { assertCurrency, badInput, parseMinorUnits, type MoneyInput } from '@coinslot/kernel';

export interface Amount {
  amount: bigint;
  currency: string;
}

/** A positive amount from client input, with errors that name the offending field. */
export function positiveAmount(input: MoneyInput, field: string): Amount {
  const currency = assertCurrency(input.currency, `${field}.currency`);
  let amount: bigint;
  try {
    amount = parseMinorUnits(input.amountMinor);
  } catch {
    throw badInput(
      'amountMinor must be an integer number of minor units, as a decimal string (e.g. "199").',
      `${field}.amountMinor`,
    );
  }
  if (amount <= 0n) throw badInput(`${field} must be more than zero.`, `${field}.amountMinor`);
  return { amount, currency };
}

/** bigint columns arrive as decimal strings from pg; never through a JS number. */
export const toBigInt = (value: string | bigint): bigint =>
  typeof value === 'bigint' ? value : BigInt(value);
