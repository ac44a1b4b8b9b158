/**
 * The coin wallet as a channel: registered like every adapter so the registry stays the one
 * list of channel protocols, but executed by billing against the accounts ledger (two-phase
 * transfers), never by channels. Its capabilities say what billing does with it; every
 * procedure here throws ProcedureNotSupported, so nothing can move wallet money through a
 * network adapter by mistake.
 */
import type { AdapterFactory, Capabilities, ChannelAdapter, Outcome } from '../types';
import { ProcedureNotSupported } from '../types';

export const capabilities: Capabilities = {
  protocol: 'WALLET',
  kind: 'WALLET',
  procedures: ['CHARGE', 'REFUND', 'BALANCE'],
  patterns: ['REQUEST_READ'],
  consent: ['NONE'],
  currencies: '*',
  refunds: 'partial',
  executedBy: 'billing',
};

class WalletAdapter implements ChannelAdapter {
  readonly capabilities = capabilities;
  async charge(): Promise<Outcome> {
    throw new ProcedureNotSupported('WALLET', 'CHARGE');
  }
  async refund(): Promise<Outcome> {
    throw new ProcedureNotSupported('WALLET', 'REFUND');
  }
  async status(): Promise<Outcome> {
    throw new ProcedureNotSupported('WALLET', 'STATUS');
  }
  async close(): Promise<void> {}
}

export const factory: AdapterFactory = {
  code: 'wallet',
  capabilities,
  create: () => new WalletAdapter(),
};
