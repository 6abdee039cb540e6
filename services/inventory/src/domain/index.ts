export * from './cluster.decider';
export * from './node.decider';
export * from './vm.decider';
