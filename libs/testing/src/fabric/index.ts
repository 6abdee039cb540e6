export * from './fixtures';
export * from './int-support';
export * from './random-history';
