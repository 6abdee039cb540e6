export * from './ipam.decider';
export * from './private-networks';
export * from './floating-addresses';
