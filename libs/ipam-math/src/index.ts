export * from './address';
export * from './cidr';
export * from './allocator';
export * from './range-cidrs';
export * from './routable';
