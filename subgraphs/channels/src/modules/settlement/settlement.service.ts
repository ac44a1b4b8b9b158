/**
 * Request-download settlement: fetch the day's files over SFTP for each account of a channel
 * that has settlement configured, reconcile each against our procedure runs, record every
 * mismatch for review, and resolve the unknown/pending runs the file proves, through the same
 * dedupe + forward-only + hand-off path as callbacks. One transaction per file, keyed by
 * (account, file name + SHA-256): a file already processed is skipped, a re-delivered file with
 * other bytes is processed again (its differences show up as mismatches).
 *
 * Configuration per channel (settings) or account (settings, credentials):
 *   settings    settlementSftpUrl (sftp://host:port), settlementSftpHostKey (SHA256:…),
 *               settlementDelimiter (, or ;), settlementDecimalSeparator (. or ,)
 *   credentials settlementSftpUsername, settlementSftpPassword
 */
import {
  badInput,
  newId,
  notFound,
  pgArray,
  query,
  type EntityManager,
  type MikroORM,
} from '@coinslot/kernel';
import type { Logger } from 'pino';
import {
  fetchSettlementFiles,
  type FetchedSettlementFile,
  type SettlementSftpConfig,
} from '../../settlement/fetcher';
import { parseSettlementFile, settlementDate } from '../../settlement/format';
import {
  reconcile,
  settlementFileKey,
  type OurRun,
  type RunOutcome,
} from '../../settlement/reconcile';
import { SettlementFileResult, SettlementRunResult } from '../../types';
import type { AccountRow, AccountService } from '../account/account.service';
import type { CallbackService } from '../callback/callback.service';
import type { ChannelRow } from '../channel/channel.service';

interface MismatchRow {
  kind: string;
  reason: string | null;
  reference: string | null;
  operatorTxnId: string | null;
  runId: string | null;
  ours?: { amount: bigint; currency: string; outcome: string };
  theirs?: { amount: bigint; currency: string; status: string };
  detail?: Record<string, unknown>;
}

export interface SettlementServiceOptions {
  orm: MikroORM;
  log: Logger;
  accounts: AccountService;
  callbacks: CallbackService;
}

export class SettlementService {
  constructor(private readonly o: SettlementServiceOptions) {}

  sftpConfig(channel: ChannelRow, account: AccountRow): SettlementSftpConfig | null {
    const settings: Record<string, unknown> = { ...channel.settings, ...account.settings };
    const url = settings.settlementSftpUrl;
    if (typeof url !== 'string' || !url) return null;
    const credentials = this.o.accounts.decrypt(account);
    const username =
      credentials.settlementSftpUsername ??
      (typeof settings.settlementSftpUsername === 'string'
        ? settings.settlementSftpUsername
        : undefined);
    if (!username) return null;
    return {
      url,
      username,
      password: credentials.settlementSftpPassword,
      privateKey: credentials.settlementSftpPrivateKey,
      hostKeySha256:
        typeof settings.settlementSftpHostKey === 'string'
          ? settings.settlementSftpHostKey
          : undefined,
      readyTimeoutMs: 10_000,
    };
  }

  /** Channels with settlement configured on at least one active account (for the daily job). */
  async settlingChannels(em: EntityManager): Promise<string[]> {
    const rows = await query<{ id: string }>(
      em,
      `select distinct c.id from channels.channel c join channels.channel_account a on a.channel_id = c.id
        where c.enabled and a.status = 'active'
          and (c.settings ->> 'settlementSftpUrl' is not null or a.settings ->> 'settlementSftpUrl' is not null)`,
    );
    return rows.map((r) => r.id);
  }

  async run(channelId: string, date: string): Promise<SettlementRunResult> {
    let day: string;
    try {
      day = settlementDate(date);
    } catch {
      throw badInput('date must be a day, YYYY-MM-DD.', 'date');
    }
    const em = this.o.orm.em.fork();
    const [channel] = await query<ChannelRow>(em, `select * from channels.channel where id = ?`, [
      channelId,
    ]);
    if (!channel) throw notFound('Channel');
    const accounts = await query<AccountRow>(
      em,
      `select * from channels.channel_account where channel_id = ? and status = 'active' order by priority`,
      [channel.id],
    );
    const result = Object.assign(new SettlementRunResult(), {
      channelId: channel.id,
      date: day,
      files: [] as SettlementFileResult[],
    });
    let configured = 0;
    for (const account of accounts) {
      const cfg = this.sftpConfig(channel, account);
      if (!cfg) continue;
      configured += 1;
      const files = (await fetchSettlementFiles(cfg, { since: day, period: 'D' })).filter(
        (f) => f.date === day,
      );
      for (const file of files) result.files.push(await this.processFile(channel, account, file));
    }
    if (configured === 0)
      throw badInput(
        `Channel ${channel.code} has no account with settlement configured (settlementSftpUrl + credentials).`,
        'channelId',
      );
    return result;
  }

  async processFile(
    channel: ChannelRow,
    account: AccountRow,
    file: FetchedSettlementFile,
  ): Promise<SettlementFileResult> {
    const settings: Record<string, unknown> = { ...channel.settings, ...account.settings };
    const delimiter = settings.settlementDelimiter === ';' ? ';' : ',';
    const decimalSeparator = settings.settlementDecimalSeparator === ',' ? ',' : '.';
    const parsed = parseSettlementFile(file.buffer, { delimiter, decimalSeparator });
    const key = settlementFileKey(file.name, file.sha256);
    const base = { name: file.name, sha256: file.sha256, rows: parsed.rows.length };

    return this.o.orm.em.fork().transactional(async (tx) => {
      const fileId = newId();
      const [inserted] = await query<{ id: string }>(
        tx,
        `insert into channels.settlement_file (id, channel_id, account_id, name, sha256, file_key, file_date, row_count, matched, mismatches, resolved)
         values (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0) on conflict (account_id, file_key) do nothing returning id`,
        [
          fileId,
          channel.id,
          account.id,
          file.name,
          file.sha256,
          key,
          file.date,
          parsed.rows.length,
        ],
      );
      if (!inserted) {
        const [prev] = await query<{ matched: number; mismatches: number; resolved: number }>(
          tx,
          `select matched, mismatches, resolved from channels.settlement_file where account_id = ? and file_key = ?`,
          [account.id, key],
        );
        return Object.assign(new SettlementFileResult(), {
          ...base,
          alreadyProcessed: true,
          ...prev,
        });
      }

      const references = [...new Set(parsed.rows.map((r) => r.merchantReference).filter(Boolean))];
      const runs = await query<{
        reference: string;
        adapter_reference: string;
        procedure: string;
        amount: string;
        currency: string;
        outcome_kind: string | null;
        provider_ref: string | null;
      }>(
        tx,
        `select reference, adapter_reference, procedure, amount, currency, outcome_kind, provider_ref from channels.procedure_run
          where account_id = ? and procedure in ('CHARGE', 'REFUND')
            and ((created_at >= ?::date and created_at < ?::date + 1) or adapter_reference = any(?::text[]))`,
        [account.id, file.date, file.date, pgArray(references)],
      );
      const ours: OurRun[] = runs.map((r) => ({
        reference: r.adapter_reference,
        procedure: r.procedure as 'CHARGE' | 'REFUND',
        amount: BigInt(r.amount),
        currency: r.currency,
        outcome: (r.outcome_kind ?? 'unknown') as RunOutcome,
        providerRef: r.provider_ref ?? undefined,
      }));
      const rec = reconcile(parsed.rows, ours, {
        fileName: file.name,
        eventIdPrefix: `settlement:${account.id}`,
      });

      const mismatches: MismatchRow[] = [];
      for (const m of rec.amountMismatch) {
        mismatches.push({
          kind: 'amount_mismatch',
          reason: null,
          reference: m.reference,
          operatorTxnId: m.row.operatorTxnId,
          runId: null,
          ours: m.ours,
          theirs: m.theirs,
        });
      }
      for (const m of rec.missingOnOurSide) {
        mismatches.push({
          kind: 'missing_on_our_side',
          reason: m.reason,
          reference: m.row.merchantReference || null,
          operatorTxnId: m.row.operatorTxnId,
          runId: null,
          ours: m.run
            ? { amount: m.run.amount, currency: m.run.currency, outcome: m.run.outcome }
            : undefined,
          theirs: {
            amount: m.row.grossAmount < 0n ? -m.row.grossAmount : m.row.grossAmount,
            currency: m.row.currency,
            status: m.row.status,
          },
        });
      }
      for (const m of rec.missingOnTheirSide) {
        mismatches.push({
          kind: 'missing_on_their_side',
          reason: m.reason,
          reference: m.run.reference,
          operatorTxnId: m.row?.operatorTxnId ?? null,
          runId: null,
          ours: { amount: m.run.amount, currency: m.run.currency, outcome: m.run.outcome },
          theirs: m.row
            ? { amount: m.row.grossAmount, currency: m.row.currency, status: m.row.status }
            : undefined,
        });
      }
      for (const d of rec.duplicates) {
        mismatches.push({
          kind: 'duplicate_row',
          reason: d.identical ? 'identical' : 'different',
          reference: d.duplicate.merchantReference || null,
          operatorTxnId: d.operatorTxnId,
          runId: null,
          detail: { firstRow: d.first.index, duplicateRow: d.duplicate.index },
        });
      }
      for (const m of mismatches) {
        const [run] = m.reference
          ? await query<{ id: string }>(
              tx,
              `select id from channels.procedure_run where account_id = ? and adapter_reference = ? order by (parent_id is null) desc limit 1`,
              [account.id, m.reference],
            )
          : [];
        await query(
          tx,
          `insert into channels.settlement_mismatch (id, file_id, channel_id, account_id, kind, reason, reference, operator_txn_id, run_id,
             our_amount, our_currency, our_outcome, their_amount, their_currency, their_status, detail)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb)`,
          [
            newId(),
            fileId,
            channel.id,
            account.id,
            m.kind,
            m.reason,
            m.reference,
            m.operatorTxnId,
            run?.id ?? null,
            m.ours?.amount.toString() ?? null,
            m.ours?.currency ?? null,
            m.ours?.outcome ?? null,
            m.theirs?.amount.toString() ?? null,
            m.theirs?.currency ?? null,
            m.theirs?.status ?? null,
            JSON.stringify(m.detail ?? {}),
          ],
        );
      }

      let resolved = 0;
      for (const event of rec.resolved) {
        const { run: _run, row: _row, previous: _previous, ...asyncOutcome } = event;
        const r = await this.o.callbacks.applyEventIn(
          tx,
          channel.id,
          account.id,
          asyncOutcome,
          'settlement',
        );
        if (r.applied) resolved += 1;
      }
      await query(
        tx,
        `update channels.settlement_file set matched = ?, mismatches = ?, resolved = ? where id = ?`,
        [rec.matched.length, mismatches.length, resolved, fileId],
      );
      this.o.log.info(
        {
          channel: channel.code,
          file: file.name,
          matched: rec.matched.length,
          mismatches: mismatches.length,
          resolved,
        },
        'settlement file reconciled',
      );
      return Object.assign(new SettlementFileResult(), {
        ...base,
        alreadyProcessed: false,
        matched: rec.matched.length,
        mismatches: mismatches.length,
        resolved,
      });
    });
  }
}
