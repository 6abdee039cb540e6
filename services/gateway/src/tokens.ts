export const EVENT_STORE = Symbol('EVENT_STORE');
export const RPC_CLIENT = Symbol('RPC_CLIENT');
export const PROJECTION_RUNNER = Symbol('PROJECTION_RUNNER');
export const DATA_SOURCE = Symbol('DATA_SOURCE');
/** Grace period (ms) before a BMP/agent disagreement is reported. */
export const BMP_GRACE_MS = Symbol('BMP_GRACE_MS');
