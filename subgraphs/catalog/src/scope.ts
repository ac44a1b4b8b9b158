import { badInput, callerMerchantId, isUuid, notFound, type Principal } from '@coinslot/kernel';

/**
 * The merchant whose catalog a read is about. Portal keys and player tokens read their own
 * merchant's (naming another one is NOT_FOUND); admins and services must name one.
 */
export function merchantScope(principal: Principal, merchantId: string | null | undefined): string {
  const own = callerMerchantId(principal);
  if (own) {
    if (merchantId != null && merchantId !== own) throw notFound('Merchant');
    return own;
  }
  if (merchantId == null) {
    throw badInput(
      'The catalog is per merchant: pass merchantId when calling with an admin key.',
      'merchantId',
    );
  }
  if (!isUuid(merchantId)) throw badInput('merchantId must be a UUID.', 'merchantId');
  return merchantId;
}

/** A UUID argument of an admin input: malformed is BAD_USER_INPUT on that field. */
export function assertUuid(value: string, field: string): string {
  if (!isUuid(value)) throw badInput(`${field} must be a UUID.`, field);
  return value;
}

const CODE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SKU = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function assertCode(code: string, field = 'code'): string {
  if (!CODE.test(code)) {
    throw badInput(
      'code must be 1–64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit.',
      field,
    );
  }
  return code;
}

export function assertSku(sku: string, field = 'sku'): string {
  if (!SKU.test(sku)) {
    throw badInput(
      'sku must be 1–100 letters, digits, ".", "_", ":" or "-", starting with a letter or digit.',
      field,
    );
  }
  return sku;
}

/**
 * Merchant isolation for catalog objects (they belong to a merchant, never to a player):
 * portal keys and player tokens see their merchant's, admins and services all.
 */
export function canSeeCatalog(principal: Principal, merchantId: string): boolean {
  const own = callerMerchantId(principal);
  return own == null
    ? principal.kind === 'admin' || principal.kind === 'service'
    : own === merchantId;
}

/** Direct lookups: another merchant's object is NOT_FOUND, never its data. */
export function assertCatalogVisible<R extends { merchant_id: string }>(
  principal: Principal,
  what: string,
  row: R | null | undefined,
): R {
  if (!row || !canSeeCatalog(principal, row.merchant_id)) throw notFound(what);
  return row;
}
