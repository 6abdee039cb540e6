export * from './keyed-mutex';
export * from './reply-cache';
export * from './logger';
export * from './nest-logger';
export * from './metrics';
export * from './poll';
export * from './run-service';
