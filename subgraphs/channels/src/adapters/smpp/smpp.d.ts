/**
 * Minimal types for smpp@0.5.1 (farhadi/node-smpp), which ships none. Only what the SMPP adapter,
 * its simulator and tests use; PDU fields stay dynamic (`pdu.message_id`, TLVs by name).
 */
declare module 'smpp' {
  import { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  /** Fields of a PDU: mandatory parameters and TLVs by name (see lib/defs.js). */
  export type PduOptions = Record<string, unknown>;

  export interface Pdu {
    command: string;
    command_id: number;
    command_status: number;
    command_length: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    response(options?: PduOptions): Pdu;
    toBuffer(): Buffer;
  }

  export const PDU: {
    new (command: string, options?: PduOptions): Pdu;
    fromBuffer(buffer: Buffer): Pdu | false;
    maxLength: number;
  };

  export type ResponseCallback = (pdu: Pdu) => void;
  export type SendCallback = (pdu: Pdu) => void;
  type Shortcut = (
    options: PduOptions,
    responseCallback?: ResponseCallback,
    sendCallback?: SendCallback,
  ) => boolean;

  export class Session extends EventEmitter {
    socket: Socket;
    server?: Server;
    paused: boolean;
    send(pdu: Pdu, responseCallback?: ResponseCallback, sendCallback?: SendCallback): boolean;
    pause(): void;
    resume(): void;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    bind_transceiver: Shortcut;
    submit_sm: Shortcut;
    deliver_sm: Shortcut;
    query_sm: Shortcut;
    enquire_link: Shortcut;
    unbind: Shortcut;
    generic_nack: Shortcut;
  }

  export class Server extends NetServer {
    sessions: Session[];
  }

  export interface ConnectOptions {
    host?: string;
    port?: number;
    url?: string;
    tls?: boolean;
    auto_enquire_link_period?: number;
  }

  export function connect(options: ConnectOptions | string, listener?: () => void): Session;
  export const createSession: typeof connect;
  export function createServer(listener: (session: Session) => void): Server;
  export function createServer(
    options: Record<string, unknown>,
    listener: (session: Session) => void,
  ): Server;

  export interface FieldType {
    read(buffer: Buffer, offset: number, length?: number): unknown;
    write(value: unknown, buffer: Buffer, offset: number): void;
    size(value: unknown): number;
    default: unknown;
  }
  export interface TlvDefinition {
    id: number;
    type: FieldType;
    multiple?: boolean;
    tag?: string;
  }
  export function addTLV(tag: string, options: TlvDefinition): void;

  export const types: {
    int8: FieldType;
    int16: FieldType;
    int32: FieldType;
    cstring: FieldType;
    tlv: {
      int8: FieldType;
      int16: FieldType;
      int32: FieldType;
      cstring: FieldType;
      string: FieldType;
      buffer: FieldType;
    };
  };
  export const tlvs: Record<string, TlvDefinition>;
  export const errors: Record<string, number>;

  export const REGISTERED_DELIVERY: {
    FINAL: number;
    FAILURE: number;
    SUCCESS: number;
    INTERMEDIATE: number;
  };
  export const ESM_CLASS: {
    MC_DELIVERY_RECEIPT: number;
    INTERMEDIATE_DELIVERY: number;
    UDH_INDICATOR: number;
  };
  export const MESSAGE_STATE: Record<
    | 'SCHEDULED'
    | 'ENROUTE'
    | 'DELIVERED'
    | 'EXPIRED'
    | 'DELETED'
    | 'UNDELIVERABLE'
    | 'ACCEPTED'
    | 'UNKNOWN'
    | 'REJECTED'
    | 'SKIPPED',
    number
  >;
  export const TON: {
    UNKNOWN: number;
    INTERNATIONAL: number;
    NATIONAL: number;
    NETWORK_SPECIFIC: number;
    ABBREVIATED: number;
  };
  export const NPI: { UNKNOWN: number; ISDN: number };
}
