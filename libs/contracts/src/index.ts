export * from './subjects';
export * from './validation';
export * from './decorators';
export * from './errors';
export * from './events';
export * from './commands';
export * from './decider';
export * from './desired-state';
