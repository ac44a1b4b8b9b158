import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { notFound, recordAudit, requireAdmin, type RequestContext } from '@coinslot/kernel';
import { SCHEMA } from '../../database';
import type { ChannelsRuntime } from '../../runtime/runtime';
import {
  ChannelAccount,
  ProvisionChannelAccountInput,
  RotateChannelAccountCredentialsInput,
  RotateCredentialsKeyResult,
} from '../../types';
import { channelService } from '../channel/channel.service';
import { parseCredentials, toAccount } from './account.service';

export function createAccountResolver(rt: () => ChannelsRuntime) {
  @Resolver(() => ChannelAccount)
  class AccountResolver {
    @Query(() => [ChannelAccount], {
      description: "Admin: a merchant's channel accounts (never their credentials).",
    })
    async channelAccounts(
      @Arg('merchantId', () => ID) merchantId: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ChannelAccount[]> {
      requireAdmin(ctx.principal);
      const rows = await rt().accounts.forMerchant(ctx.em, merchantId);
      const channels = new Map(
        (await channelService.byIds(ctx.em, [...new Set(rows.map((r) => r.channel_id))])).map(
          (c) => [c.id, c],
        ),
      );
      return rows.map((r) => toAccount(r, channels.get(r.channel_id)!));
    }

    @Mutation(() => ChannelAccount, {
      description:
        "Owner: provisions (or re-provisions) a merchant's account on a channel; credentials are encrypted at rest and never returned.",
    })
    async provisionChannelAccount(
      @Arg('input', () => ProvisionChannelAccountInput) input: ProvisionChannelAccountInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ChannelAccount> {
      const owner = requireAdmin(ctx.principal, 'owner');
      const credentials = parseCredentials(input.credentials, input.credentialEntries);
      const { row, channel, created } = await ctx.em.transactional(async (tx) => {
        const result = await rt().accounts.provision(tx, { ...input, credentials });
        await recordAudit(tx, SCHEMA, owner, {
          action: result.created ? 'channel_account.provision' : 'channel_account.reprovision',
          targetType: 'channel_account',
          targetId: result.row.id,
          outcome: 'succeeded',
          details: {
            merchantId: result.row.merchant_id,
            channel: result.channel.code,
            credentialNames: result.row.credential_names,
            keyId: result.row.credentials_key_id,
          },
        });
        return result;
      });
      if (!created) await rt().pool.invalidate(row.id);
      return toAccount(row, channel);
    }

    @Mutation(() => ChannelAccount, {
      description: "Owner: replaces an account's credentials; its adapter restarts with them.",
    })
    async rotateChannelAccountCredentials(
      @Arg('input', () => RotateChannelAccountCredentialsInput)
      input: RotateChannelAccountCredentialsInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ChannelAccount> {
      const owner = requireAdmin(ctx.principal, 'owner');
      const credentials = parseCredentials(input.credentials, input.credentialEntries);
      const row = await ctx.em.transactional(async (tx) => {
        const updated = await rt().accounts.rotateCredentials(tx, input.accountId, credentials);
        await recordAudit(tx, SCHEMA, owner, {
          action: 'channel_account.rotate_credentials',
          targetType: 'channel_account',
          targetId: updated.id,
          outcome: 'succeeded',
          details: { credentialNames: updated.credential_names, keyId: updated.credentials_key_id },
        });
        return updated;
      });
      await rt().pool.invalidate(row.id);
      const channel = await channelService.byId(ctx.em, row.channel_id);
      return toAccount(row, channel!);
    }

    @Mutation(() => ChannelAccount, {
      description: 'Admin: stops routing to this account (its runs still settle).',
    })
    async disableChannelAccount(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ChannelAccount> {
      const admin = requireAdmin(ctx.principal);
      const row = await ctx.em.transactional(async (tx) => {
        const updated = await rt().accounts.setStatus(tx, id, 'disabled');
        await recordAudit(tx, SCHEMA, admin, {
          action: 'channel_account.disable',
          targetType: 'channel_account',
          targetId: updated.id,
          outcome: 'succeeded',
        });
        return updated;
      });
      await rt().pool.invalidate(row.id);
      const channel = await channelService.byId(ctx.em, row.channel_id);
      if (!channel) throw notFound('Channel');
      return toAccount(row, channel);
    }

    @Mutation(() => RotateCredentialsKeyResult, {
      description:
        'Owner: re-encrypts every channel account with the current key (the first of CREDENTIALS_KEYS). Run it before removing an old key.',
    })
    async rotateCredentialsKey(@Ctx() ctx: RequestContext): Promise<RotateCredentialsKeyResult> {
      const owner = requireAdmin(ctx.principal, 'owner');
      const keyId = rt().keyring.currentKeyId;
      const ids = await ctx.em.transactional(async (tx) => {
        const touched = await rt().accounts.reencryptAll(tx);
        await recordAudit(tx, SCHEMA, owner, {
          action: 'channel_account.reencrypt_all',
          targetType: 'credentials_key',
          targetId: keyId,
          outcome: 'succeeded',
          details: { accounts: touched.length },
        });
        return touched;
      });
      return Object.assign(new RotateCredentialsKeyResult(), { keyId, reencrypted: ids.length });
    }
  }
  return AccountResolver;
}
