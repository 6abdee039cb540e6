import { Initial1764129600000 } from './1764129600000-initial';
import { ApiTokens1764300000000 } from './1764300000000-api-tokens';
import { IpUsage1795666948961 } from './1795666948961-ip-usage';
import { IdempotencyKeys1796000000000 } from './1796000000000-idempotency-keys';
import { RenderError1796000000001 } from './1796000000001-render-error';
import { AuditLog1796000000100 } from './1796000000100-audit-log';
import { VmBlackhole1796000000101 } from './1796000000101-vm-blackhole';
import { RtbhRole1796000000102 } from './1796000000102-rtbh-role';
import { ObservedRoutes1797000000000 } from './1797000000000-observed-routes';
import { VmHistoryStream1797100000000 } from './1797100000000-vm-history-stream';
import { PrivateNetworks1798000000000 } from './1798000000000-private-networks';
import { BfdSessions1798100000000 } from './1798100000000-bfd-sessions';
import { RouterConfigRollback1799000000000 } from './1799000000000-router-config-rollback';
import { ClusterTopology1799100000000 } from './1799100000000-cluster-topology';
import { VmAddresses1799200000000 } from './1799200000000-vm-addresses';
import { FloatingAddresses1799300000000 } from './1799300000000-floating-addresses';

export const MIGRATIONS = [
  Initial1764129600000,
  ApiTokens1764300000000,
  IpUsage1795666948961,
  IdempotencyKeys1796000000000,
  RenderError1796000000001,
  AuditLog1796000000100,
  VmBlackhole1796000000101,
  RtbhRole1796000000102,
  ObservedRoutes1797000000000,
  VmHistoryStream1797100000000,
  PrivateNetworks1798000000000,
  BfdSessions1798100000000,
  RouterConfigRollback1799000000000,
  ClusterTopology1799100000000,
  VmAddresses1799200000000,
  FloatingAddresses1799300000000,
];
