export * from './errors';
export * from './common';
export * from './auth';
export * from './clusters';
export * from './health';
export { KeyEnvelope, SealedBox } from './crypto/envelopes';
export * from './routing';
export * from './version';
