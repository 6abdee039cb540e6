export * from './ipam.decider';
