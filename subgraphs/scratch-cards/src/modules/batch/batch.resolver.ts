import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import {
  badInput,
  isUuid,
  loader,
  notFound,
  requireAdmin,
  type RequestContext,
} from '@coinslot/kernel';
import type { ScratchCardsRuntime } from '../../runtime';
import { toBatch, type BatchRow } from '../../rows';
import {
  CreateScratchCardBatchInput,
  ScratchCardBatch,
  ScratchCardBatchPayload,
  ScratchCardExport,
  ScratchCardStatus,
  ScratchCardStatusCount,
} from '../../types';
import { formats } from '../format/format.service';
import { exportsService } from '../export/export.service';
import { batches, parseBatchInput } from './batch.service';

const STATUS_ORDER = Object.values(ScratchCardStatus);

export function batchLoader(ctx: RequestContext) {
  return loader<string, BatchRow | null>(ctx, 'batch', async (ids) => {
    const rows = await batches.byIds(ctx.em, ids);
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id) ?? null);
  });
}

/** Batches are back-office objects: admins (and services) only; anyone else gets NOT_FOUND. */
export async function resolveBatchReference(
  ref: { id: string },
  ctx: RequestContext,
): Promise<ScratchCardBatch | null> {
  if (ctx.principal.kind !== 'admin' && ctx.principal.kind !== 'service') return null;
  const row = await batchLoader(ctx).load(ref.id);
  return row ? toBatch(row) : null;
}

const payload = (row: BatchRow) =>
  Object.assign(new ScratchCardBatchPayload(), { batch: toBatch(row) });

export function createBatchResolver(rt: () => ScratchCardsRuntime) {
  @Resolver(() => ScratchCardBatch)
  class BatchResolver {
    @Query(() => [ScratchCardBatch], {
      description: "Admin: a merchant's batches, newest first, with card counts per status.",
    })
    async scratchCardBatches(
      @Arg('merchantId', () => ID) merchantId: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatch[]> {
      requireAdmin(ctx.principal);
      if (!isUuid(merchantId)) throw badInput('merchantId must be a UUID.', 'merchantId');
      const rows = await batches.list(ctx.em, merchantId);
      for (const r of rows) batchLoader(ctx).prime(r.id, r);
      return rows.map(toBatch);
    }

    @Query(() => ScratchCardBatch, {
      description: 'Admin: one batch (generation progress in generatedCount).',
    })
    async scratchCardBatch(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatch> {
      requireAdmin(ctx.principal);
      const row = isUuid(id) ? await batchLoader(ctx).load(id) : null;
      if (!row) throw notFound('Scratch card batch');
      return toBatch(row);
    }

    @FieldResolver(() => [ScratchCardStatusCount], {
      description: 'Cards per status (statuses with no card are left out).',
    })
    async cardCounts(
      @Root() batch: ScratchCardBatch,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardStatusCount[]> {
      const counts = await loader<string, Map<ScratchCardStatus, number>>(
        ctx,
        'batch-counts',
        async (ids) => {
          const rows = (await Promise.all(ids.map((id) => batchLoader(ctx).load(id)))).filter(
            (r): r is BatchRow => r !== null,
          );
          const all = await batches.counts(ctx.em, rows);
          return ids.map((id) => all.get(id) ?? new Map());
        },
      ).load(batch.id);
      return STATUS_ORDER.filter((s) => counts.has(s)).map((status) =>
        Object.assign(new ScratchCardStatusCount(), { status, count: counts.get(status)! }),
      );
    }

    @Mutation(() => ScratchCardBatchPayload, {
      description:
        'Operator or owner: orders a batch. Generation runs in the background (status GENERATING, progress in generatedCount), then the batch waits for approval.',
    })
    async createScratchCardBatch(
      @Arg('input', () => CreateScratchCardBatchInput) input: CreateScratchCardBatchInput,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatchPayload> {
      const admin = requireAdmin(ctx.principal);
      const runtime = rt();
      const parsed = parseBatchInput(input, runtime.config.MAX_BATCH_SIZE);
      let merchantId = parsed.merchantId;
      if (parsed.value.kind === 'wallet') {
        const currency = parsed.value.currency;
        const merchants = await runtime.clients.merchants(ctx.principal);
        if (merchantId) {
          const m = merchants.find((x) => x.id === merchantId);
          if (!m) throw badInput('No merchant with this merchantId.', 'merchantId');
          if (m.virtualCurrency !== currency) {
            throw badInput(
              `walletCredit must be in the merchant's virtual currency (${m.virtualCurrency ?? 'none set'}).`,
              'walletCredit',
            );
          }
        } else {
          const owners = merchants.filter((m) => m.virtualCurrency === currency);
          if (owners.length !== 1) {
            throw badInput(
              owners.length === 0
                ? `No merchant has the virtual currency ${currency}.`
                : `Several merchants use ${currency}: pass merchantId.`,
              owners.length === 0 ? 'walletCredit' : 'merchantId',
            );
          }
          merchantId = owners[0]!.id;
        }
      } else {
        if (!merchantId) {
          throw badInput(
            "Service cards need merchantId (a service's merchant cannot be derived from its id).",
            'merchantId',
          );
        }
        const serviceId = parsed.value.serviceId;
        const service = (await runtime.clients.services(ctx.principal, merchantId)).find(
          (s) => s.id === serviceId,
        );
        if (!service) throw badInput('serviceId is not a service of this merchant.', 'serviceId');
        if (!service.active) throw badInput('The service is not active.', 'serviceId');
      }
      const { format } = await formats.current(ctx.em, merchantId);
      const row = await batches.create(ctx.em, admin, { ...parsed, merchantId }, format);
      return payload(row);
    }

    @Mutation(() => ScratchCardBatchPayload, {
      description: 'Owner, not the creator: approves a generated batch; its cards become ACTIVE.',
    })
    async approveScratchCardBatch(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatchPayload> {
      const owner = requireAdmin(ctx.principal, 'owner');
      return payload(await batches.approve(ctx.em, owner, id));
    }

    @Mutation(() => ScratchCardBatchPayload, {
      description: 'Admin: voids a batch; its unused cards can never be activated.',
    })
    async voidScratchCardBatch(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardBatchPayload> {
      const admin = requireAdmin(ctx.principal);
      return payload(await batches.void(ctx.em, admin, id));
    }

    @Mutation(() => ScratchCardExport, {
      description:
        'Admin: a single-use, short-lived link to the printing CSV (serialNumber,activationCode) of an approved physical batch. Downloading it erases the clear codes.',
    })
    async exportScratchCardBatch(
      @Arg('id', () => ID) id: string,
      @Ctx() ctx: RequestContext,
    ): Promise<ScratchCardExport> {
      requireAdmin(ctx.principal);
      const runtime = rt();
      const minted = await exportsService.mint(
        ctx.em,
        ctx.principal,
        id,
        runtime.config.EXPORT_TTL_SECONDS,
      );
      const base = runtime.config.PUBLIC_BASE_URL.replace(/\/+$/, '');
      return Object.assign(new ScratchCardExport(), {
        url: `${base}/exports/scratch-cards/${minted.token}`,
        expiresAt: minted.expiresAt,
        count: minted.count,
      });
    }
  }
  return BatchResolver;
}
