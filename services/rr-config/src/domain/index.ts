export * from './rr-config.model';
