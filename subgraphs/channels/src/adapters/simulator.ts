/**
 * What every loopback simulator offers: a real server on 127.0.0.1 (port 0 in tests), its own
 * state, the contract's test numbers, and faults injected on demand.
 */

export interface SimulatorFaults {
  /** Added before every answer. */
  latencyMs: number;
  /** The next N money-moving requests commit, then answer only after `hangMs` (past the client timeout). */
  hangAfterCommit: number;
  hangMs: number;
  /** The next N requests answer 503 and commit nothing. */
  unavailable: number;
  /** The next N requests commit, then answer a malformed body. */
  malformedAfterCommit: number;
  /** The next N requests commit, then the connection is destroyed without an answer. */
  dropAfterCommit: number;
  /** Every callback/receipt is sent twice. */
  duplicateCallbacks: boolean;
  /** Callbacks of one reference are sent in reverse order. */
  reorderCallbacks: boolean;
  /** Delay before each callback/receipt. */
  callbackDelayMs: number;
}

export const NO_FAULTS: SimulatorFaults = {
  latencyMs: 0,
  hangAfterCommit: 0,
  hangMs: 5_000,
  unavailable: 0,
  malformedAfterCommit: 0,
  dropAfterCommit: 0,
  duplicateCallbacks: false,
  reorderCallbacks: false,
  callbackDelayMs: 0,
};

export interface SimulatorControl {
  setFaults(faults: Partial<SimulatorFaults>): void;
  /** Clears faults and state. */
  reset(): void;
  /** How many times money was actually taken for our reference (0 or 1 when correct). */
  chargeCount(reference: string): number;
  /** Total charged minus refunded for our reference, in minor units. */
  netCharged(reference: string): bigint;
  /** Posts a callback with a wrong signature/credential to the sink; resolves to the HTTP status. */
  sendForgedCallback?(reference: string): Promise<number>;
  /** Posts the last genuine callback for the reference again; resolves to the HTTP status. */
  replayCallback?(reference: string): Promise<number>;
  /** The player completes a redirect page (3-D Secure, consent). */
  completeRedirect?(reference: string): Promise<void>;
}

export interface Simulator {
  url: string;
  /** Credentials the simulator accepts, to put in the adapter's config. */
  credentials: Record<string, string>;
  control: SimulatorControl;
  stop(): Promise<void>;
}

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /** Accept the sink's self-signed certificate (tests and demo only). */
  insecureSinkTls?: boolean;
}

/** The last two digits of an MSISDN decide the scenario (CONTRACT.md, "Simulator test numbers"). */
export type TestNumber = '00' | '51' | '54' | '55' | '77' | '78' | '91' | '61' | '64' | '69';
export function testNumberOf(msisdn: string | undefined): string {
  return (msisdn ?? '').replace(/\D/g, '').slice(-2);
}
