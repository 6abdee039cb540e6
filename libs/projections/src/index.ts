export * from './entities';
export * from './datasource';
export * from './projector';
export * from './runner';
export * from './rebuild';
export * from './range-size';
export * from './position';
export * from './follower';
