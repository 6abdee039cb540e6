export * from './keyed-mutex';
export * from './reply-cache';
export * from './logger';
