export * from './fixtures';
export * from './int-support';
