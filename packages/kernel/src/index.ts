import 'reflect-metadata';

export * from './errors';
export * from './currencies';
export * from './money';
export * from './config';
export * from './logger';
export * from './context';
export * from './validation';
export * from './pagination';
export * from './ids';
export * from './database';
export * from './embedded';
export * from './federation';
export * from './audit';
export * from './request-context';
export * from './server';
export * from './keys';
export * from './jobs';
