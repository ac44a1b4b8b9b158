/**
 * A tiny SMSC on loopback (`smpp.createServer().listen(0, '127.0.0.1')`) for MT-billed premium
 * SMS: accounts by system_id/password, price points by short code + tariff TLV, receipts per
 * test number (last two MSISDN digits), query_sm (by message_id or by our reference TLV), and
 * the SimulatorControl faults. A charge is committed when the message reaches DELIVERED.
 * Test number 55 is a premium service with double opt-in: a billed MT without the opt-in TLV
 * (`coinslot_opt_in`, set by the channel once the subscriber confirmed) is refused with
 * VENDOR_RCONSENT and charges nothing; with it, the MT is delivered and billed like 00.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as smpp from 'smpp';
import type { Simulator, SimulatorFaults, SimulatorOptions } from '../simulator';
import { NO_FAULTS, testNumberOf } from '../simulator';
import {
  OPT_IN_TLV,
  REFERENCE_TLV,
  STATUS,
  formatReceiptText,
  idKeys,
  messageStateNumber,
  statOf,
  type MessageState,
} from './transformers';

/** The premium short code and tariff codes (price points) this SMSC bills. */
export const SIM_SHORT_CODE = '80199';
export const SIM_TARIFFS: Readonly<Record<string, bigint>> = {
  PP150: 150n,
  PP199: 199n,
  PP500: 500n,
  PP1000: 1000n,
};
export const SIM_PRICE_POINTS = Object.entries(SIM_TARIFFS)
  .map(([code, amount]) => `${amount}=${code}`)
  .join(',');

export type ReceiptFormat = 'both' | 'tlv' | 'text';

export interface SmscStats {
  binds: number;
  refusedBinds: number;
  submits: number;
  /** Highest number of submit_sm/query_sm one session had unanswered at once. */
  maxInFlight: number;
  deliverSmResps: Record<string, number>;
}

/** SMPP extras beyond SimulatorControl, for this adapter's own tests. */
export interface SmppSimulator extends Simulator {
  smsc: {
    stats(): SmscStats;
    /** Destroys every bound link (an SMSC restart or a network cut). */
    dropLinks(): void;
    setReceiptFormat(format: ReceiptFormat): void;
    /** Sends a receipt for any message id (known or not) on a bound link; resolves to the deliver_sm_resp status. */
    injectReceipt(r: {
      messageId: string;
      stat: 'DELIVRD' | 'UNDELIV' | 'REJECTD';
      err?: string;
    }): Promise<number>;
  };
}

interface Message {
  id: string;
  reference?: string;
  systemId: string;
  msisdn: string;
  tariff: string;
  amount: bigint;
  text: string;
  registeredDelivery: number;
  state: MessageState;
  err: number;
  submittedAt: Date;
  doneAt?: Date;
  origin: Link;
}

interface Link {
  session: smpp.Session;
  systemId?: string;
  bound: boolean;
  inFlight: number;
  unacked: Set<smpp.PduOptions>;
}

export async function startSimulator(
  options: SimulatorOptions & { callbackUrl: string },
): Promise<SmppSimulator> {
  const systemId = 'csl01';
  const password = randomBytes(4).toString('hex'); // SMPP 3.4 passwords are at most 8 octets
  const accounts = new Map([[systemId, password]]);

  let faults: SimulatorFaults = { ...NO_FAULTS };
  let receiptFormat: ReceiptFormat = 'both';
  const byKey = new Map<string, Message>();
  const byReference = new Map<string, Message[]>();
  const links = new Set<Link>();
  /** Receipts waiting for the account to bind again (store and forward). */
  const backlog = new Map<string, smpp.PduOptions[]>();
  const timers = new Set<NodeJS.Timeout>();
  let stats: SmscStats = {
    binds: 0,
    refusedBinds: 0,
    submits: 0,
    maxInFlight: 0,
    deliverSmResps: {},
  };
  let nextId = 0x3a000000 + (randomBytes(2).readUInt16BE(0) << 4);
  let stopped = false;

  const later = (ms: number, fn: () => void) => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  // -- receipts ---------------------------------------------------------------------------------

  function receiptPdu(m: Message, state: MessageState): smpp.PduOptions {
    const final = state !== 'ENROUTE';
    const err = String(m.err).padStart(3, '0');
    const withTlv = receiptFormat !== 'text';
    const withText = receiptFormat !== 'tlv';
    // The text carries the id in decimal while submit_sm_resp and the TLV use hex (seen in practice).
    const text = formatReceiptText({
      id: BigInt(`0x${m.id}`).toString(),
      stat: statOf(state),
      err,
      submitted: m.submittedAt,
      done: m.doneAt ?? new Date(),
      text: m.text,
      delivered: state === 'DELIVERED',
    });
    return {
      source_addr_ton: smpp.TON.INTERNATIONAL,
      source_addr_npi: smpp.NPI.ISDN,
      source_addr: m.msisdn,
      destination_addr: SIM_SHORT_CODE,
      esm_class: final ? smpp.ESM_CLASS.MC_DELIVERY_RECEIPT : smpp.ESM_CLASS.INTERMEDIATE_DELIVERY,
      short_message: withText ? text : '',
      ...(withTlv
        ? {
            receipted_message_id: m.id,
            message_state: messageStateNumber(state),
            network_error_code: Buffer.from([0x03, (m.err >> 8) & 0xff, m.err & 0xff]),
          }
        : {}),
    };
  }

  function linkFor(account: string, preferred?: Link): Link | undefined {
    if (preferred && preferred.bound && links.has(preferred)) return preferred;
    for (const l of links) if (l.bound && l.systemId === account) return l;
    return undefined;
  }

  function deliver(
    account: string,
    pdu: smpp.PduOptions,
    preferred?: Link,
    onResp?: (status: number) => void,
  ): void {
    const link = linkFor(account, preferred);
    if (!link) {
      backlog.set(account, [...(backlog.get(account) ?? []), pdu]);
      return;
    }
    link.unacked.add(pdu);
    link.session.deliver_sm({ ...pdu }, (resp) => {
      link.unacked.delete(pdu);
      const name =
        resp.command_status === STATUS.ESME_ROK
          ? 'ESME_ROK'
          : `0x${resp.command_status.toString(16)}`;
      stats.deliverSmResps[name] = (stats.deliverSmResps[name] ?? 0) + 1;
      onResp?.(resp.command_status);
    });
  }

  /** Final (and, with reorderCallbacks, an intermediate ENROUTE) receipts, honouring faults. */
  function sendReceipts(m: Message): void {
    const wantFinal =
      (m.registeredDelivery & 0x03) === 1 ||
      ((m.registeredDelivery & 0x03) === 2 && m.state !== 'DELIVERED');
    if (!wantFinal) return;
    let states: MessageState[] = [m.state];
    if (faults.reorderCallbacks) states = [m.state, 'ENROUTE']; // ENROUTE came first: reversed
    const copies = faults.duplicateCallbacks ? 2 : 1;
    const send = () => {
      for (const s of states)
        for (let i = 0; i < copies; i += 1) deliver(m.systemId, receiptPdu(m, s), m.origin);
    };
    if (faults.callbackDelayMs > 0) later(faults.callbackDelayMs, send);
    else send();
  }

  function finish(m: Message, state: MessageState, err = 0, receipts = true): void {
    if (m.state !== 'ENROUTE') return;
    m.state = state;
    m.err = err;
    m.doneAt = new Date();
    if (receipts) sendReceipts(m);
  }

  function findMessage(messageId: string, reference: string | undefined): Message | undefined {
    if (messageId) {
      for (const k of idKeys(messageId)) {
        const hit = byKey.get(k);
        if (hit) return hit;
      }
      return undefined;
    }
    const list = reference ? byReference.get(reference) : undefined;
    return list?.[list.length - 1];
  }

  // -- sessions ---------------------------------------------------------------------------------

  const server = smpp.createServer((session: smpp.Session) => {
    const link: Link = { session, bound: false, inFlight: 0, unacked: new Set() };
    links.add(link);
    session.on('error', () => session.destroy());
    session.on('close', () => {
      links.delete(link);
      // Receipts not acknowledged go back to the store for the next bind.
      if (link.systemId)
        for (const pdu of link.unacked)
          backlog.set(link.systemId, [...(backlog.get(link.systemId) ?? []), pdu]);
      link.unacked.clear();
    });

    const answer = (pdu: smpp.Pdu, fields: smpp.PduOptions, extraDelay = 0) => {
      link.inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, link.inFlight);
      const send = () => {
        link.inFlight -= 1;
        if (!session.socket.destroyed) session.send(pdu.response(fields));
      };
      const delay = faults.latencyMs + extraDelay;
      if (delay > 0) later(delay, send);
      else send();
    };

    session.on('bind_transceiver', (pdu: smpp.Pdu) => {
      const expected = accounts.get(String(pdu.system_id));
      if (expected === undefined || expected !== pdu.password) {
        stats.refusedBinds += 1;
        session.send(
          pdu.response({
            command_status: expected === undefined ? STATUS.ESME_RINVSYSID : STATUS.ESME_RINVPASWD,
          }),
        );
        return;
      }
      link.bound = true;
      link.systemId = String(pdu.system_id);
      stats.binds += 1;
      session.send(pdu.response({ system_id: 'coinslot-smsc' }));
      const queued = backlog.get(link.systemId) ?? [];
      backlog.delete(link.systemId);
      for (const r of queued) deliver(link.systemId, r, link);
    });
    for (const other of ['bind_transmitter', 'bind_receiver']) {
      session.on(other, (pdu: smpp.Pdu) =>
        session.send(pdu.response({ command_status: STATUS.ESME_RBINDFAIL })),
      );
    }
    session.on('enquire_link', (pdu: smpp.Pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu: smpp.Pdu) => {
      link.bound = false;
      session.send(pdu.response());
      session.close();
    });

    session.on('submit_sm', (pdu: smpp.Pdu) => {
      if (!link.bound || !link.systemId) {
        session.send(pdu.response({ command_status: 0x04 /* ESME_RINVBNDSTS */ }));
        return;
      }
      stats.submits += 1;
      if (faults.unavailable > 0) {
        faults.unavailable -= 1;
        answer(pdu, { command_status: STATUS.ESME_RSYSERR });
        return;
      }
      if (pdu.source_addr !== SIM_SHORT_CODE)
        return answer(pdu, { command_status: STATUS.ESME_RINVSRCADR });
      const billing = pdu.billing_identification as { format: number; data: Buffer } | undefined;
      if (!billing) return answer(pdu, { command_status: STATUS.ESME_RMISSINGTLV });
      const tariff = billing.data.toString('ascii');
      const amount = SIM_TARIFFS[tariff];
      if (amount === undefined) return answer(pdu, { command_status: STATUS.ESME_RINVTLVVAL });
      const msisdn = String(pdu.destination_addr);
      const n = testNumberOf(msisdn);
      const optIn = typeof pdu[OPT_IN_TLV] === 'string' ? (pdu[OPT_IN_TLV] as string) : '';
      if (n === '55' && !optIn) return answer(pdu, { command_status: STATUS.VENDOR_RCONSENT });
      switch (n) {
        case '61':
          return answer(pdu, { command_status: STATUS.VENDOR_RSPENDLIMIT });
        case '64':
          return answer(pdu, { command_status: STATUS.ESME_RINVDSTADR });
        case '69':
          return answer(pdu, { command_status: STATUS.ESME_RTHROTTLED });
      }

      nextId += 1 + (nextId % 7);
      const reference =
        typeof pdu[REFERENCE_TLV] === 'string' ? (pdu[REFERENCE_TLV] as string) : undefined;
      const m: Message = {
        id: nextId.toString(16),
        reference,
        systemId: link.systemId,
        msisdn,
        tariff,
        amount,
        text: (pdu.short_message as { message?: unknown } | undefined)?.message?.toString() ?? '',
        registeredDelivery: Number(pdu.registered_delivery ?? 0),
        state: 'ENROUTE',
        err: 0,
        submittedAt: new Date(),
        origin: link,
      };
      for (const k of idKeys(m.id)) byKey.set(k, m);
      if (reference) byReference.set(reference, [...(byReference.get(reference) ?? []), m]);

      // Faults that commit first: the money is taken whatever happens to the answer.
      if (faults.hangAfterCommit > 0) {
        faults.hangAfterCommit -= 1;
        finish(m, 'DELIVERED', 0, false);
        answer(pdu, { message_id: m.id }, faults.hangMs);
        later(faults.latencyMs + faults.hangMs + 10, () => sendReceipts(m));
        return;
      }
      if (faults.malformedAfterCommit > 0) {
        faults.malformedAfterCommit -= 1;
        finish(m, 'DELIVERED');
        // A header announcing an impossible length: the client cannot frame anything after it.
        const garbage = Buffer.alloc(16);
        garbage.writeUInt32BE(0x7fffffff, 0);
        garbage.writeUInt32BE(0x80000004, 4);
        garbage.writeUInt32BE(pdu.sequence_number, 12);
        session.socket.write(garbage);
        return;
      }
      if (faults.dropAfterCommit > 0) {
        faults.dropAfterCommit -= 1;
        finish(m, 'DELIVERED', 0, false);
        link.bound = false;
        session.destroy();
        // The receipt waits in the store until the account binds again.
        sendReceipts(m);
        return;
      }

      switch (n) {
        case '91':
          // Committed, the answer is lost past the client timeout, no receipt ever: only query_sm tells.
          finish(m, 'DELIVERED', 0, false);
          answer(pdu, { message_id: m.id }, faults.hangMs);
          return;
        case '51':
          answer(pdu, { message_id: m.id });
          later(faults.latencyMs + 20, () => finish(m, 'UNDELIVERABLE', 101)); // insufficient credit
          return;
        case '54':
          answer(pdu, { message_id: m.id });
          later(faults.latencyMs + 20, () => finish(m, 'REJECTED', 103)); // barred from premium
          return;
        case '77':
          answer(pdu, { message_id: m.id });
          later(faults.latencyMs + 1_000, () => finish(m, 'DELIVERED'));
          return;
        case '78':
          answer(pdu, { message_id: m.id });
          later(faults.latencyMs + 1_000, () => finish(m, 'UNDELIVERABLE', 0)); // generic failure
          return;
        default:
          answer(pdu, { message_id: m.id });
          later(faults.latencyMs + 20, () => finish(m, 'DELIVERED'));
      }
    });

    session.on('query_sm', (pdu: smpp.Pdu) => {
      if (!link.bound) {
        session.send(pdu.response({ command_status: 0x04 }));
        return;
      }
      const reference =
        typeof pdu[REFERENCE_TLV] === 'string' ? (pdu[REFERENCE_TLV] as string) : undefined;
      const m = findMessage(String(pdu.message_id ?? ''), reference);
      if (!m || m.systemId !== link.systemId)
        return answer(pdu, { command_status: STATUS.ESME_RINVMSGID });
      answer(pdu, {
        message_id: m.id,
        final_date: m.doneAt ?? '',
        message_state: messageStateNumber(m.state),
        error_code: m.err & 0xff,
      });
    });
  });

  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve()),
  );
  const port = (server.address() as AddressInfo).port;

  const delivered = (reference: string) =>
    (byReference.get(reference) ?? []).filter((m) => m.state === 'DELIVERED');

  const sim: SmppSimulator = {
    url: `smpp://127.0.0.1:${port}`,
    credentials: { systemId, password },
    control: {
      setFaults(f) {
        faults = { ...NO_FAULTS, ...f };
      },
      reset() {
        faults = { ...NO_FAULTS };
        byKey.clear();
        byReference.clear();
        backlog.clear();
        stats = { binds: 0, refusedBinds: 0, submits: 0, maxInFlight: 0, deliverSmResps: {} };
      },
      chargeCount: (reference) => delivered(reference).length,
      netCharged: (reference) => delivered(reference).reduce((sum, m) => sum + m.amount, 0n),
    },
    smsc: {
      stats: () => ({ ...stats, deliverSmResps: { ...stats.deliverSmResps } }),
      dropLinks() {
        for (const l of links) {
          l.bound = false;
          l.session.destroy();
        }
      },
      setReceiptFormat(format) {
        receiptFormat = format;
      },
      injectReceipt(r) {
        return new Promise((resolve, reject) => {
          const link = linkFor(systemId);
          if (!link) {
            reject(new Error('no bound link'));
            return;
          }
          const state: MessageState =
            r.stat === 'DELIVRD'
              ? 'DELIVERED'
              : r.stat === 'UNDELIV'
                ? 'UNDELIVERABLE'
                : 'REJECTED';
          const now = new Date();
          const err = Number(r.err ?? '0');
          const text = formatReceiptText({
            id: r.messageId,
            stat: r.stat,
            err: r.err,
            submitted: now,
            done: now,
            delivered: state === 'DELIVERED',
          });
          deliver(
            systemId,
            {
              source_addr: '447700900999',
              destination_addr: SIM_SHORT_CODE,
              esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
              short_message: text,
              receipted_message_id: r.messageId,
              message_state: messageStateNumber(state),
              network_error_code: Buffer.from([0x03, (err >> 8) & 0xff, err & 0xff]),
            },
            link,
            resolve,
          );
        });
      },
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const l of links) l.session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return sim;
}
