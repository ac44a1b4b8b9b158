import { codes, TEST_PLAYER_TOKEN_SECRET, TEST_SECRET } from '@coinslot/testing';
import { withClient } from '@coinslot/kernel';
import { contractOperation } from '../support/contract';
import { startStack, type Stack } from '../support/stack';
import {
  DAYTIME,
  createPayment,
  eventually,
  hourIn,
  offers,
  registerPlayer,
  unique,
  zoneWithLocalHour,
} from '../support/payments';
import { billingKeys } from '../../subgraphs/billing/src/config';
import { sealMsisdn } from '../../subgraphs/billing/src/modules/subscription/subscription.service';

// Test data read from GraphQL answers: shapes are asserted, not typed.
type Data = Record<string, any>;

/**
 * Recurring subscriptions through the real gateway, with the contract's operations verbatim
 * (Subscribe, CancelSubscription, PlayerOverview). Renewals are driven by running their
 * graphile-worker job early (its run_at set to now), exactly as the runner would at
 * next_charge_at.
 */

const FR_HOURS = { from: 8, to: 22 };
const OK = '+33612345600';
const BROKE = '+33612345651';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('recurring subscriptions end to end', () => {
  let stack: Stack;
  const plans: Record<string, string> = {};

  const sql = <T = Data>(text: string, params: unknown[] = []) =>
    withClient(stack.databaseUrl, async (c) => (await c.query(text, params)).rows as T[]);

  async function subscribe(input: Record<string, unknown>, token = stack.demo.portalApiKey) {
    return stack.call(
      contractOperation('Subscribe'),
      { input: { idempotencyKey: unique('sub'), ...input } },
      token,
    );
  }

  async function cancel(input: Record<string, unknown>, token = stack.demo.portalApiKey) {
    return stack.call(contractOperation('CancelSubscription'), { input }, token);
  }

  async function overview(playerId: string): Promise<Data> {
    const r = await stack.call(
      contractOperation('PlayerOverview'),
      { id: playerId },
      stack.demo.portalApiKey,
    );
    expect(r.errors).toBeUndefined();
    return r.data!.player as Data;
  }

  const row = async (id: string) =>
    (await sql(`select * from billing.plan_subscription where id = $1`, [id]))[0]!;

  const chargesOf = (id: string) =>
    sql(
      `select id, serial_number, status, failure_code, subscription_period from billing.payment
        where subscription_id = $1 order by created_at`,
      [id],
    );

  const renewalJob = async (id: string, period: number) =>
    (
      await sql(`select run_at, attempts from billing_jobs._private_jobs where key = $1`, [
        `renew:${id}:${period}`,
      ])
    )[0];

  /** Runs a pending renewal job now and waits until the runner has taken it and finished. */
  async function runRenewal(id: string, period: number): Promise<void> {
    const moved = await sql(
      `update billing_jobs._private_jobs set run_at = now() where key = $1 returning id`,
      [`renew:${id}:${period}`],
    );
    expect(moved).toHaveLength(1);
    const jobId = moved[0]!.id as string;
    await eventually(`renewal job ${id}:${period} to run`, async () => {
      const left = await sql(`select 1 from billing_jobs._private_jobs where id = $1`, [jobId]);
      return left.length === 0;
    });
  }

  /** A subscriber with the contract's always-succeeding number, ACTIVE on the DAY plan. */
  async function activeSubscription(timezone = DAYTIME()) {
    const playerId = await registerPlayer(stack, { country: 'FR', msisdn: OK, timezone });
    const r = await subscribe({ playerId, planId: plans.DAY });
    expect(r.errors).toBeUndefined();
    const sub = r.data!.subscribe.subscription as Data;
    expect(sub.status).toBe('ACTIVE');
    return { playerId, sub, timezone, payment: r.data!.subscribe.payment as Data };
  }

  beforeAll(async () => {
    stack = await startStack();
    const r = await stack.call(
      contractOperation('Offers'),
      { country: 'FR' },
      stack.demo.portalApiKey,
    );
    for (const p of r.data!.plans as Data[]) plans[p.interval as string] = p.id as string;
    expect(Object.keys(plans).sort()).toEqual(['DAY', 'MONTH', 'WEEK']);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("subscribe (carrier 00): ACTIVE, access until the period end, next charge inside the allowed hours in the player's zone", async () => {
    const before = Date.now();
    const { playerId, sub, timezone, payment } = await activeSubscription();
    expect(payment.status).toBe('SUCCEEDED');
    const end = Date.parse(sub.currentPeriodEnd as string);
    expect(end).toBeGreaterThanOrEqual(before + DAY);
    expect(end).toBeLessThanOrEqual(Date.now() + DAY);
    const next = new Date(sub.nextChargeAt as string);
    expect(next.getTime()).toBeGreaterThanOrEqual(end);
    const h = hourIn(timezone, next);
    expect(h >= FR_HOURS.from && h < FR_HOURS.to).toBe(true);

    // PlayerOverview (the contract operation) lists it; the plan's service is accessible until the period end.
    const player = await overview(playerId);
    expect(player.subscriptions).toEqual([
      { id: sub.id, status: 'ACTIVE', nextChargeAt: sub.nextChargeAt, plan: { id: plans.DAY } },
    ]);
    expect(player.entitlements).toHaveLength(1);
    expect(player.entitlements[0].validUntil).toBe(sub.currentPeriodEnd);
    expect(player.payments.edges[0].node.id).toBe(payment.id);

    // The renewal job was queued with the activation, to run at nextChargeAt.
    const job = await renewalJob(sub.id, 2);
    expect(new Date(job.run_at).toISOString()).toBe(sub.nextChargeAt);
    const [charge] = await chargesOf(sub.id);
    expect(charge).toMatchObject({ id: payment.id, subscription_period: 1 });
  });

  it('a subscriber whose period ends at night is charged the next morning at the first allowed hour', async () => {
    const { sub, timezone } = await activeSubscription();
    // Move the period's end into the night (02:00 local) and let the renewal succeed: the
    // period after it ends at night too, so its charge waits for 08:00.
    const local = new Date(Date.now() + DAY);
    const nightEnd = new Date(
      Date.parse(
        `${new Intl.DateTimeFormat('en-CA', { timeZone: timezone }).format(local)}T02:00:00Z`,
      ) - offsetOf(timezone, local),
    );
    await sql(
      `update billing.entitlement set valid_until = $2 where player_id = (select player_id from billing.plan_subscription where id = $1)`,
      [sub.id, nightEnd.toISOString()],
    );
    await runRenewal(sub.id, 2);
    const renewed = await row(sub.id);
    expect(renewed.period).toBe(2);
    expect(new Date(renewed.current_period_start).toISOString()).toBe(nightEnd.toISOString());
    const next = new Date(renewed.next_charge_at);
    expect(hourIn(timezone, next)).toBe(FR_HOURS.from);
    expect(next.getTime()).toBeGreaterThan(new Date(renewed.current_period_end).getTime());
    expect(next.getTime() - new Date(renewed.current_period_end).getTime()).toBeLessThan(7 * HOUR);
  });

  it('renewal: the job charges the next period once, extends the period and the access, even when it runs again', async () => {
    const { playerId, sub } = await activeSubscription();
    const firstEnd = sub.currentPeriodEnd as string;
    await runRenewal(sub.id, 2);

    const renewed = await row(sub.id);
    expect(renewed.status).toBe('ACTIVE');
    expect(renewed.period).toBe(2);
    expect(new Date(renewed.current_period_start).toISOString()).toBe(firstEnd);
    expect(new Date(renewed.current_period_end).getTime()).toBe(Date.parse(firstEnd) + DAY);
    const player = await overview(playerId);
    expect(player.entitlements[0].validUntil).toBe(
      new Date(renewed.current_period_end).toISOString(),
    );
    expect(player.subscriptions[0]).toMatchObject({
      status: 'ACTIVE',
      nextChargeAt: new Date(renewed.next_charge_at).toISOString(),
    });
    let charges = await chargesOf(sub.id);
    expect(charges.map((c) => [c.subscription_period, c.status])).toEqual([
      [1, 'SUCCEEDED'],
      [2, 'SUCCEEDED'],
    ]);
    for (const c of charges)
      expect(stack.simulators.controls.camara.chargeCount(c.serial_number)).toBe(1);
    expect(await renewalJob(sub.id, 3)).toBeDefined();

    // The period-2 job again (a duplicate delivery): nothing more is charged.
    await sql(
      `select billing_jobs.add_job('billing.renew_subscription', $1::json, job_key => 'dup-2')`,
      [JSON.stringify({ subscriptionId: sub.id, period: 2 })],
    );
    // Period 3 run three times at once (two duplicates beside the real job): one charge.
    for (const key of ['dup-3a', 'dup-3b']) {
      await sql(
        `select billing_jobs.add_job('billing.renew_subscription', $1::json, job_key => $2)`,
        [JSON.stringify({ subscriptionId: sub.id, period: 3 }), key],
      );
    }
    await runRenewal(sub.id, 3);
    await eventually('the duplicate jobs to finish', async () => {
      const left = await sql(`select 1 from billing_jobs._private_jobs where key like 'dup-%'`);
      return left.length === 0;
    });
    charges = await chargesOf(sub.id);
    expect(charges.map((c) => [c.subscription_period, c.status])).toEqual([
      [1, 'SUCCEEDED'],
      [2, 'SUCCEEDED'],
      [3, 'SUCCEEDED'],
    ]);
    const third = await row(sub.id);
    expect(third.period).toBe(3);
    expect(new Date(third.current_period_end).getTime()).toBe(Date.parse(firstEnd) + 2 * DAY);
  });

  it('failed renewal (51): PAST_DUE, retried after 1, 2 and 4 days inside the hours, then CANCELED; a retry that succeeds reactivates', async () => {
    const keys = billingKeys({
      INTERNAL_CONTEXT_SECRET: TEST_SECRET,
      PLAYER_TOKEN_SECRET: TEST_PLAYER_TOKEN_SECRET,
      WEBHOOK_KEY: undefined,
    });
    /** The subscriber's line runs out of credit (or gets it back). */
    const line = (id: string, msisdn: string) =>
      sql(`update billing.plan_subscription set msisdn_sealed = $2 where id = $1`, [
        id,
        sealMsisdn(keys, id, msisdn),
      ]);

    const { playerId, sub, timezone } = await activeSubscription();
    await line(sub.id, BROKE);
    const delays = [1, 2, 4];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const started = Date.now();
      await runRenewal(sub.id, 2);
      const s = await row(sub.id);
      expect(s.status).toBe('PAST_DUE');
      expect(s.failed_attempts).toBe(attempt);
      expect(s.period).toBe(1);
      const next = new Date(s.next_charge_at);
      expect(next.getTime()).toBeGreaterThanOrEqual(started + delays[attempt - 1]! * DAY - 1000);
      expect(next.getTime()).toBeLessThanOrEqual(
        Date.now() + delays[attempt - 1]! * DAY + 11 * HOUR,
      );
      const h = hourIn(timezone, next);
      expect(h >= FR_HOURS.from && h < FR_HOURS.to).toBe(true);
      expect(new Date((await renewalJob(sub.id, 2)).run_at).getTime()).toBe(next.getTime());
    }
    const player = await overview(playerId);
    expect(player.subscriptions[0].status).toBe('PAST_DUE');
    // No access was added for the unpaid period.
    expect(player.entitlements[0].validUntil).toBe(sub.currentPeriodEnd);
    await runRenewal(sub.id, 2);
    const ended = await row(sub.id);
    expect(ended).toMatchObject({
      status: 'CANCELED',
      cancel_reason: 'PAYMENT_FAILED',
      next_charge_at: null,
    });
    expect(await renewalJob(sub.id, 2)).toBeUndefined();
    const charges = await chargesOf(sub.id);
    expect(charges.map((c) => [c.subscription_period, c.status, c.failure_code])).toEqual([
      [1, 'SUCCEEDED', null],
      [2, 'FAILED', 'INSUFFICIENT_FUNDS'],
      [2, 'FAILED', 'INSUFFICIENT_FUNDS'],
      [2, 'FAILED', 'INSUFFICIENT_FUNDS'],
      [2, 'FAILED', 'INSUFFICIENT_FUNDS'],
    ]);

    // Another subscriber: one failure, then the line has credit again.
    const other = await activeSubscription();
    await line(other.sub.id, BROKE);
    await runRenewal(other.sub.id, 2);
    expect((await row(other.sub.id)).status).toBe('PAST_DUE');
    await line(other.sub.id, OK);
    await runRenewal(other.sub.id, 2);
    const back = await row(other.sub.id);
    expect(back).toMatchObject({ status: 'ACTIVE', period: 2, failed_attempts: 0 });
    expect((await overview(other.playerId)).entitlements[0].validUntil).toBe(
      new Date(back.current_period_end).toISOString(),
    );
  });

  it('cancel at period end keeps it ACTIVE until currentPeriodEnd; cancel now ends it at once; both idempotent and audited', async () => {
    const audits = (id: string) =>
      sql(
        `select details from billing.audit_log where action = 'subscription.cancel' and target_id = $1`,
        [id],
      );

    const a = await activeSubscription();
    for (let i = 0; i < 2; i += 1) {
      const r = await cancel({ subscriptionId: a.sub.id, atPeriodEnd: true });
      expect(r.errors).toBeUndefined();
      expect(r.data!.cancelSubscription.subscription).toEqual({
        id: a.sub.id,
        status: 'ACTIVE',
        currentPeriodEnd: a.sub.currentPeriodEnd,
      });
    }
    expect(await audits(a.sub.id)).toHaveLength(1);
    expect((await overview(a.playerId)).subscriptions[0]).toMatchObject({
      status: 'ACTIVE',
      nextChargeAt: null,
    });
    // The period's job now ends the subscription at the period end; early, it only waits.
    expect(new Date((await renewalJob(a.sub.id, 2)).run_at).toISOString()).toBe(
      a.sub.currentPeriodEnd,
    );
    await runRenewal(a.sub.id, 2);
    expect((await row(a.sub.id)).status).toBe('ACTIVE');
    // Once the period is over: CANCELED, nothing charged.
    await sql(
      `update billing.plan_subscription set current_period_end = now() - interval '1 second' where id = $1`,
      [a.sub.id],
    );
    await runRenewal(a.sub.id, 2);
    expect(await row(a.sub.id)).toMatchObject({ status: 'CANCELED', cancel_reason: 'PERIOD_END' });
    expect(await chargesOf(a.sub.id)).toHaveLength(1);

    // Cancel now (atPeriodEnd absent), by the player's own token; the access paid for stays.
    const b = await activeSubscription();
    const token = await stack.call(
      contractOperation('IssuePlayerToken'),
      { playerId: b.playerId },
      stack.demo.portalApiKey,
    );
    const playerToken = token.data!.issuePlayerToken.token as string;
    const someoneElse = await stack.call(
      contractOperation('IssuePlayerToken'),
      { playerId: a.playerId },
      stack.demo.portalApiKey,
    );
    expect(
      codes(
        await cancel(
          { subscriptionId: b.sub.id },
          someoneElse.data!.issuePlayerToken.token as string,
        ),
      ),
    ).toEqual(['NOT_FOUND']);
    for (let i = 0; i < 2; i += 1) {
      const r = await cancel({ subscriptionId: b.sub.id }, playerToken);
      expect(r.errors).toBeUndefined();
      expect(r.data!.cancelSubscription.subscription).toMatchObject({
        id: b.sub.id,
        status: 'CANCELED',
      });
    }
    expect(await audits(b.sub.id)).toHaveLength(1);
    expect(await renewalJob(b.sub.id, 2)).toBeUndefined();
    const player = await overview(b.playerId);
    expect(player.subscriptions[0]).toMatchObject({ status: 'CANCELED', nextChargeAt: null });
    expect(player.entitlements[0].validUntil).toBe(b.sub.currentPeriodEnd);
    // A canceled subscription can be replaced by a new one.
    expect(
      (await subscribe({ playerId: b.playerId, planId: plans.WEEK })).data!.subscribe.subscription
        .status,
    ).toBe('ACTIVE');
  });

  it('subscribe is idempotent: same key ⇒ same subscription and payment; other parameters ⇒ IDEMPOTENCY_KEY_REUSED', async () => {
    const playerId = await registerPlayer(stack, { country: 'FR', msisdn: OK });
    const key = unique('sub');
    const answers = await Promise.all(
      [0, 1, 2].map(() => subscribe({ idempotencyKey: key, playerId, planId: plans.MONTH })),
    );
    for (const r of answers) expect(r.errors).toBeUndefined();
    const first = answers[0]!.data!.subscribe as Data;
    for (const r of answers) expect(r.data!.subscribe).toEqual(first);
    const again = await subscribe({ idempotencyKey: key, playerId, planId: plans.MONTH });
    expect(again.data!.subscribe).toEqual(first);
    expect(await chargesOf(first.subscription.id)).toHaveLength(1);
    expect(
      (
        await sql(`select count(*)::int as n from billing.plan_subscription where player_id = $1`, [
          playerId,
        ])
      )[0]!.n,
    ).toBe(1);

    const reused = await subscribe({ idempotencyKey: key, playerId, planId: plans.WEEK });
    expect(codes(reused)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    // A second live subscription to the same service is refused.
    const twice = await subscribe({ playerId, planId: plans.WEEK });
    expect(codes(twice)).toEqual(['CONFLICT']);
    expect(twice.errors![0]!.extensions!.reason).toBe('ALREADY_SUBSCRIBED');
  });

  it("a first payment answered later (77) keeps it PENDING until the carrier's callback activates it", async () => {
    const playerId = await registerPlayer(stack, { country: 'FR', msisdn: '+33612345677' });
    const r = await subscribe({ playerId, planId: plans.DAY });
    expect(r.errors).toBeUndefined();
    expect(r.data!.subscribe.payment.status).toBe('PROCESSING');
    expect(r.data!.subscribe.subscription).toMatchObject({ status: 'PENDING', nextChargeAt: null });
    const id = r.data!.subscribe.subscription.id as string;
    const active = await eventually('the callback to activate it', async () => {
      const s = (await overview(playerId)).subscriptions[0] as Data;
      return s.status === 'ACTIVE' ? s : null;
    });
    expect(active.nextChargeAt).toBe(new Date((await row(id)).next_charge_at).toISOString());
    expect(await renewalJob(id, 2)).toBeDefined();
  });

  it('a renewal the daily cap would refuse is deferred to the next local day at 10:00, without counting as a failure', async () => {
    const fr = await offers(stack, 'FR');
    const timezone = DAYTIME();
    const playerId = await registerPlayer(stack, { country: 'FR', msisdn: OK, timezone });
    const r = await subscribe({ playerId, planId: plans.WEEK }); // 2.99 €
    expect(r.data!.subscribe.subscription.status).toBe('ACTIVE');
    const id = r.data!.subscribe.subscription.id as string;
    // 9 × 9.99 € + 3 × 1.99 € on the phone bill today: 98.87 € of FR's 100 € a day.
    for (const priceId of [
      ...Array(9).fill(fr.coins550.CARRIER_BILLING),
      ...Array(3).fill(fr.coins100.CARRIER_BILLING),
    ]) {
      const p = await createPayment(stack, { playerId, priceId });
      expect(p.data!.createPayment.payment.status).toBe('SUCCEEDED');
    }
    await runRenewal(id, 2);
    const s = await row(id);
    expect(s).toMatchObject({ status: 'ACTIVE', period: 1, failed_attempts: 0 });
    const next = new Date(s.next_charge_at);
    expect(hourIn(timezone, next)).toBe(10);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime()).toBeLessThan(Date.now() + DAY);
    expect(new Intl.DateTimeFormat('en-CA', { timeZone: timezone }).format(next)).toBe(
      new Intl.DateTimeFormat('en-CA', { timeZone: timezone }).format(new Date(Date.now() + DAY)),
    );
    expect(new Date((await renewalJob(id, 2)).run_at).getTime()).toBe(next.getTime());
    expect(await chargesOf(id)).toHaveLength(1);
    const [deferral] = await sql(
      `select details from billing.audit_log where action = 'subscription.defer' and target_id = $1`,
      [id],
    );
    expect(deferral!.details).toMatchObject({ period: 2, reason: 'DAILY_LIMIT' });
  });

  it('a first payment that fails cancels the subscription; a refused one stores nothing', async () => {
    const broke = await registerPlayer(stack, { country: 'FR', msisdn: BROKE });
    const r = await subscribe({ playerId: broke, planId: plans.DAY });
    expect(r.errors).toBeUndefined();
    expect(r.data!.subscribe.payment.status).toBe('FAILED');
    expect(r.data!.subscribe.subscription).toMatchObject({
      status: 'CANCELED',
      nextChargeAt: null,
      currentPeriodEnd: null,
    });
    expect(await row(r.data!.subscribe.subscription.id)).toMatchObject({
      cancel_reason: 'FIRST_PAYMENT_FAILED',
    });
    expect((await overview(broke)).entitlements).toEqual([]);

    // At night in the player's zone the first charge is refused (country rules): no
    // subscription is left behind, and the same key gives the same refusal.
    const sleeper = await registerPlayer(stack, {
      country: 'FR',
      msisdn: OK,
      timezone: zoneWithLocalHour(0, 7),
    });
    const key = unique('sub');
    for (let i = 0; i < 2; i += 1) {
      const refused = await subscribe({
        idempotencyKey: key,
        playerId: sleeper,
        planId: plans.DAY,
      });
      expect(codes(refused)).toEqual(['CONFLICT']);
      expect(refused.errors![0]!.extensions!.reason).toBe('OUTSIDE_CHARGING_HOURS');
    }
    expect(
      await sql(`select id from billing.plan_subscription where player_id = $1`, [sleeper]),
    ).toEqual([]);
    expect((await overview(sleeper)).subscriptions).toEqual([]);
  });
});

/** The zone's offset from UTC at `at`, in milliseconds. */
function offsetOf(zone: string, at: Date): number {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(at)
      .filter((x) => x.type !== 'literal')
      .map((x) => [x.type, Number(x.value)]),
  );
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}
