export * from './address';
export * from './cidr';
export * from './allocator';
