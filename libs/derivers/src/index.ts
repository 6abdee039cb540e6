export * from './desired-publisher';
export * from './flush-scheduler';
export * from './tailed-deriver';
export * from './deriver-app';
export * from './deriver-service';
export * from './overlay';
