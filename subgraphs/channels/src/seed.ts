/**
 * Demo channels (CONTRACT.md "Demo mode"): every ChannelProtocol, each pointing at its running
 * simulator. CARD and WALLET serve FR, DE, GB and US; carrier billing is CAMARA in FR,
 * Parlay X in GB and DE, OneAPI in US; premium SMS over SMPP in GB. The demo merchant's
 * accounts are re-provisioned on every start, because simulators mint new credentials.
 */
import { randomBytes } from 'node:crypto';
import { recordAudit, type MikroORM } from '@coinslot/kernel';
import { SIM_PRICE_POINTS, SIM_SHORT_CODE } from './adapters/smpp/simulator';
import { SCHEMA } from './database';
import { AccountService } from './modules/account/account.service';
import { channelService, type ChannelRow } from './modules/channel/channel.service';
import { CredentialsKeyring } from './security/keyring';
import { ChannelKind, ChannelProtocol } from './types';

export interface SimulatorInfo {
  url: string;
  credentials: Record<string, string>;
}

/** What simulators-main writes to SIMULATORS_FILE. */
export interface DemoSimulators {
  callbackBase: string;
  camara: SimulatorInfo;
  parlayxGb: SimulatorInfo;
  parlayxDe: SimulatorInfo;
  oneapi: SimulatorInfo;
  smpp: SimulatorInfo;
  card: SimulatorInfo;
  settlement: SimulatorInfo & { hostKeySha256: string };
}

interface DemoChannel {
  code: string;
  name: string;
  kind: ChannelKind;
  protocol: ChannelProtocol;
  adapter: string;
  countries: string[];
  currencies: string[];
  settings: Record<string, string | number | boolean>;
  credentials: Record<string, string>;
  priority: number;
}

export const ALL_DEMO_COUNTRIES = ['DE', 'FR', 'GB', 'US'];
/** Carrier timeouts in the demo: long enough for a normal answer, shorter than a 91 hang (5 s). */
const TIMEOUT_MS = 3_000;

export function demoChannels(sims: DemoSimulators): DemoChannel[] {
  return [
    {
      code: 'card',
      name: 'Card (PSP)',
      kind: ChannelKind.CARD,
      protocol: ChannelProtocol.CARD,
      adapter: 'card',
      countries: ALL_DEMO_COUNTRIES,
      currencies: [],
      settings: { baseUrl: sims.card.url, timeoutMs: TIMEOUT_MS },
      credentials: sims.card.credentials,
      priority: 100,
    },
    {
      code: 'wallet',
      name: 'Coin wallet',
      kind: ChannelKind.WALLET,
      protocol: ChannelProtocol.WALLET,
      adapter: 'wallet',
      countries: ALL_DEMO_COUNTRIES,
      currencies: [],
      settings: {},
      credentials: {},
      priority: 100,
    },
    {
      code: 'camara-fr',
      name: 'Carrier billing France (CAMARA)',
      kind: ChannelKind.CARRIER_BILLING,
      protocol: ChannelProtocol.CAMARA,
      adapter: 'camara',
      countries: ['FR'],
      currencies: ['EUR'],
      settings: {
        baseUrl: sims.camara.url,
        timeoutMs: TIMEOUT_MS,
        merchantIdentifier: 'coinslot-demo',
        merchantName: 'Coinslot demo',
        pollIntervalMs: 500,
      },
      credentials: sims.camara.credentials,
      priority: 100,
    },
    {
      code: 'parlayx-gb',
      name: 'Carrier billing UK (Parlay X)',
      kind: ChannelKind.CARRIER_BILLING,
      protocol: ChannelProtocol.PARLAYX,
      adapter: 'parlayx',
      countries: ['GB'],
      currencies: ['GBP'],
      settings: {
        baseUrl: sims.parlayxGb.url,
        timeoutMs: TIMEOUT_MS,
        demoOtp: '123456',
        settlementSftpUrl: sims.settlement.url,
        settlementSftpHostKey: sims.settlement.hostKeySha256,
      },
      credentials: {
        ...sims.parlayxGb.credentials,
        authScheme: 'wsse',
        settlementSftpUsername: sims.settlement.credentials.username ?? '',
        settlementSftpPassword: sims.settlement.credentials.password ?? '',
      },
      priority: 100,
    },
    {
      code: 'parlayx-de',
      name: 'Carrier billing Germany (Parlay X)',
      kind: ChannelKind.CARRIER_BILLING,
      protocol: ChannelProtocol.PARLAYX,
      adapter: 'parlayx',
      countries: ['DE'],
      currencies: ['EUR'],
      settings: { baseUrl: sims.parlayxDe.url, timeoutMs: TIMEOUT_MS, demoOtp: '123456' },
      credentials: { ...sims.parlayxDe.credentials, authScheme: 'wsse' },
      priority: 100,
    },
    {
      code: 'oneapi-us',
      name: 'Carrier billing US (OneAPI)',
      kind: ChannelKind.CARRIER_BILLING,
      protocol: ChannelProtocol.ONEAPI,
      adapter: 'oneapi',
      countries: ['US'],
      currencies: ['USD'],
      settings: { baseUrl: sims.oneapi.url, timeoutMs: TIMEOUT_MS, encoding: 'form' },
      // The callback path token key is ours; a fresh one per start is fine.
      credentials: {
        ...sims.oneapi.credentials,
        callbackTokenKey: randomBytes(24).toString('base64url'),
      },
      priority: 100,
    },
    {
      code: 'smpp-gb',
      name: 'Premium SMS UK (SMPP)',
      kind: ChannelKind.PREMIUM_SMS,
      protocol: ChannelProtocol.SMPP,
      adapter: 'smpp',
      countries: ['GB'],
      currencies: ['GBP'],
      settings: {
        baseUrl: sims.smpp.url,
        timeoutMs: TIMEOUT_MS,
        shortCode: SIM_SHORT_CODE,
        currency: 'GBP',
        // 1.50, 1.99, 5.00 and 10.00 GBP: every demo catalog premium-SMS price has a tariff.
        pricePoints: SIM_PRICE_POINTS,
        receiptTimeoutMs: 10_000,
        // Double opt-in (test number 55): the OTP the channel checks, as on Parlay X.
        demoOtp: '123456',
      },
      credentials: sims.smpp.credentials,
      priority: 100,
    },
  ];
}

/**
 * Creates or updates the demo channels and (re-)provisions the merchant's accounts on them.
 * Idempotent; run after accounts and catalog are seeded.
 */
export async function seedChannels(
  orm: MikroORM,
  options: { merchantId: string; simulators: DemoSimulators; credentialsKeys: string },
): Promise<{ channels: string[] }> {
  const accounts = new AccountService(CredentialsKeyring.parse(options.credentialsKeys));
  const seeder = { kind: 'service' as const, service: 'seed' };
  const codes: string[] = [];
  await orm.em.fork().transactional(async (tx) => {
    for (const def of demoChannels(options.simulators)) {
      let channel: ChannelRow | null = await channelService.byCode(tx, def.code);
      const input = {
        name: def.name,
        countries: def.countries,
        currencies: def.currencies,
        settings: JSON.stringify(def.settings),
        enabled: true,
      };
      channel = channel
        ? await channelService.update(tx, { id: channel.id, ...input })
        : await channelService.create(tx, {
            code: def.code,
            kind: def.kind,
            protocol: def.protocol,
            adapter: def.adapter,
            ...input,
          });
      const { row, created } = await accounts.provision(tx, {
        merchantId: options.merchantId,
        channelId: channel.id,
        credentials: def.credentials,
        priority: def.priority,
      });
      await recordAudit(tx, SCHEMA, seeder, {
        action: created ? 'channel_account.provision' : 'channel_account.reprovision',
        targetType: 'channel_account',
        targetId: row.id,
        outcome: 'succeeded',
        details: {
          channel: def.code,
          merchantId: options.merchantId,
          credentialNames: row.credential_names,
        },
      });
      codes.push(def.code);
    }
  });
  return { channels: codes };
}
