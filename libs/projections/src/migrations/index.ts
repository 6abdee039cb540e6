import { Initial1764129600000 } from './1764129600000-initial';

export const MIGRATIONS = [Initial1764129600000];
