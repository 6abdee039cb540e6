import { SetMetadata } from '@nestjs/common';
import type { Role } from './tokens';

/** Same key as the billing controller's `SetMetadata('roles', …)`. */
export const ROLES_KEY = 'roles';
export const PUBLIC_KEY = 'auth:public';
export const QUERY_TOKEN_KEY = 'auth:query-token';

/** Roles allowed on a handler or controller (admin is always allowed). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
/** No token needed (health). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
/** Accepts `?access_token=` too: EventSource cannot send headers. Only for SSE. */
export const AllowQueryToken = () => SetMetadata(QUERY_TOKEN_KEY, true);
