import {
  Entity as OrmEntity,
  PrimaryKey as OrmPrimaryKey,
  Property as OrmProperty,
} from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from './context';

export type AuditOutcome = 'succeeded' | 'failed' | 'refused';

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
}

/**
 * SQL for a subgraph's append-only audit log: who did what to which object, when, and how it
 * ended. A trigger refuses UPDATE and DELETE, so history cannot be rewritten from the app.
 */
export function auditLogMigrationSql(schema: string): string[] {
  return [
    `create table "${schema}".audit_log (
      id bigint generated always as identity primary key,
      at timestamptz not null default now(),
      actor_kind text not null,
      actor_id text,
      action text not null,
      target_type text not null,
      target_id text,
      outcome text not null check (outcome in ('succeeded', 'failed', 'refused')),
      details jsonb not null default '{}'::jsonb
    )`,
    `create index audit_log_target_idx on "${schema}".audit_log (target_type, target_id)`,
    `create or replace function "${schema}".audit_log_append_only() returns trigger
       language plpgsql as $$ begin raise exception 'audit_log is append-only'; end $$`,
    `create trigger audit_log_append_only before update or delete or truncate on "${schema}".audit_log
       for each statement execute function "${schema}".audit_log_append_only()`,
  ];
}

export function actorOf(principal: Principal): { kind: string; id: string | null } {
  switch (principal.kind) {
    case 'portal':
      return { kind: 'portal', id: principal.portalId };
    case 'player':
      return { kind: 'player', id: principal.playerId };
    case 'admin':
      return { kind: `admin:${principal.role}`, id: principal.adminId };
    case 'service':
      return { kind: 'service', id: principal.service };
  }
}

/** Appends an audit row in the caller's transaction (pass the transactional EntityManager). */
export async function recordAudit(
  em: EntityManager,
  schema: string,
  principal: Principal,
  entry: AuditEntry,
): Promise<void> {
  const actor = actorOf(principal);
  await em.getConnection().execute(
    `insert into "${schema}".audit_log (actor_kind, actor_id, action, target_type, target_id, outcome, details)
     values (?, ?, ?, ?, ?, ?, ?)`,
    [
      actor.kind,
      actor.id,
      entry.action,
      entry.targetType,
      entry.targetId ?? null,
      entry.outcome,
      JSON.stringify(entry.details ?? {}),
    ],
    'run',
    em.getTransactionContext(),
  );
}

/** Maps the audit table for subgraphs whose ORM needs at least one entity to start. */
@OrmEntity({ tableName: 'audit_log' })
export class AuditLogEntity {
  @OrmPrimaryKey({ type: 'bigint' }) id!: string;
  @OrmProperty({ type: 'datetime' }) at!: Date;
  @OrmProperty({ type: 'text' }) actorKind!: string;
  @OrmProperty({ type: 'text', nullable: true }) actorId!: string | null;
  @OrmProperty({ type: 'text' }) action!: string;
  @OrmProperty({ type: 'text' }) targetType!: string;
  @OrmProperty({ type: 'text', nullable: true }) targetId!: string | null;
  @OrmProperty({ type: 'text' }) outcome!: string;
  @OrmProperty({ type: 'json' }) details!: Record<string, unknown>;
}
