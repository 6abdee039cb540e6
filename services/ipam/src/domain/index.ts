export * from './ipam.decider';
export * from './private-networks';
