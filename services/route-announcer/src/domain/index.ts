export * from './node-routes.model';
