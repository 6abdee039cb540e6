export * from './propagation';
export * from './setup';
