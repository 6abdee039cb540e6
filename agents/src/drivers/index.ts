export * from './exec';
export * from './proc';
export * from './netlink';
export * from './bird';
export * from './bird-parse';
export * from './frr';
export * from './frr-parse';
