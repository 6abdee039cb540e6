export * from './connection';
export * from './event-store';
export * from './aggregate-repository';
export * from './durable-consumer';
export * from './rpc';
export * from './nest-transport';
export * from './event-tail';
export * from './nats-auth';
