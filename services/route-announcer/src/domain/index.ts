export * from './node-routes.model';
export * from './private-networks.model';
