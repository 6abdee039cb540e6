export * from './router-config.model';
