import { contractOperation } from './contract';
import type { Stack } from './stack';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

/** The local hour on the wall clock of a zone. */
export function hourIn(zone: string, now = new Date()): number {
  return (
    Number(
      new Intl.DateTimeFormat('en-GB', {
        timeZone: zone,
        hour: '2-digit',
        hourCycle: 'h23',
      }).format(now),
    ) % 24
  );
}

/**
 * A whole-hour IANA zone where it is now between `from` and `to` (local hours), so tests of
 * carrier charging hours do not depend on when they run. Etc/GMT+N is UTC−N.
 */
export function zoneWithLocalHour(from: number, to: number): string {
  for (let offset = -12; offset <= 14; offset += 1) {
    const zone = offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
    const h = hourIn(zone);
    if (h >= from && h < to) return zone;
  }
  throw new Error(`no zone with a local hour in [${from}, ${to})`);
}

export const DAYTIME = () => zoneWithLocalHour(11, 17);

export interface Offer {
  CARD?: string;
  CARRIER_BILLING?: string;
  PREMIUM_SMS?: string;
  WALLET?: string;
}

export interface Offers {
  coins100: Offer;
  coins550: Offer;
  sword: Offer;
  pass: Offer;
  /** The premium service (the pass grants access to it). */
  serviceId: string;
}

/** The demo catalog's price ids in one country (contract operation Offers). */
export async function offers(stack: Stack, country: string): Promise<Offers> {
  const r = await stack.call(contractOperation('Offers'), { country }, stack.demo.portalApiKey);
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  const variant = (sku: string): Offer => {
    for (const p of r.data!.products as Data[]) {
      const v = (p.variants as Data[]).find((x) => x.sku === sku);
      if (v) return Object.fromEntries((v.prices as Data[]).map((pr) => [pr.channelKind, pr.id]));
    }
    throw new Error(`no variant ${sku} in ${country}`);
  };
  return {
    coins100: variant('coins-100'),
    coins550: variant('coins-550'),
    sword: variant('golden-sword-legendary'),
    pass: variant('premium-pass-30d'),
    serviceId: (r.data.plans as Data[])[0]!.service.id as string,
  };
}

let seq = 0;
export function unique(prefix: string): string {
  seq += 1;
  return `${prefix}-${Date.now().toString(36)}-${process.pid.toString(36)}-${seq}`;
}

/** Registers a player of the demo merchant (contract operation RegisterPlayer); returns its id. */
export async function registerPlayer(
  stack: Stack,
  input: { country: string; msisdn?: string; timezone?: string },
  apiKey = stack.demo.portalApiKey,
): Promise<string> {
  const r = await stack.call(
    contractOperation('RegisterPlayer'),
    {
      input: {
        externalRef: unique('player'),
        country: input.country,
        msisdn: input.msisdn,
        timezone: input.timezone ?? DAYTIME(),
      },
    },
    apiKey,
  );
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return r.data.registerPlayer.player.id as string;
}

export async function createPayment(
  stack: Stack,
  input: Record<string, unknown>,
  apiKey = stack.demo.portalApiKey,
) {
  return stack.call(
    contractOperation('CreatePayment'),
    { input: { idempotencyKey: unique('key'), orderRef: unique('order'), ...input } },
    apiKey,
  );
}

export async function readPayment(
  stack: Stack,
  id: string,
  token = stack.demo.portalApiKey,
): Promise<Data> {
  const r = await stack.call(contractOperation('Payment'), { id }, token);
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return r.data.payment as Data;
}

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

/** Polls Payment until its status is final. */
export async function finalPayment(stack: Stack, id: string, timeoutMs = 20_000): Promise<Data> {
  return eventually(
    `payment ${id} to be final`,
    async () => {
      const p = await readPayment(stack, id);
      return FINAL.has(p.status as string) ? p : null;
    },
    timeoutMs,
  );
}

export async function walletBalance(
  stack: Stack,
  playerId: string,
  currency = 'GEMS',
): Promise<bigint> {
  const r = await stack.call(
    contractOperation('PlayerOverview'),
    { id: playerId },
    stack.demo.portalApiKey,
  );
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  const w = (r.data.player.wallets as Data[]).find((x) => x.currency === currency);
  return BigInt(w?.balance.amountMinor ?? '0');
}
