/** HTTP bodies whose shape differs from the commands (ids come from the path). */
import { Type } from 'class-transformer';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, Matches, Max, Min, ValidateNested } from 'class-validator';
import { BLACKHOLE_REASON_PATTERN, IsCanonicalUuid, IsCidrBlock, IsFabricName, IsIpAddress, IsOwnerId, PASSWORD_PATTERN, PoolInput } from '@fabric/contracts';

export class AddNetworkBody {
  @ApiProperty({ example: '203.0.113.0/24' })
  @IsCidrBlock()
  cidr: string;
  @ApiPropertyOptional({ type: () => [PoolInput], example: [{ start: '203.0.113.10', end: '203.0.113.200' }] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => PoolInput)
  pools?: PoolInput[];
}
export class AddPoolBody {
  @ApiProperty({ example: '203.0.113.10' })
  @IsIpAddress()
  start: string;
  @ApiProperty({ example: '203.0.113.200' })
  @IsIpAddress()
  end: string;
}
export class JoinNodeBody {
  @ApiPropertyOptional({ format: 'uuid', description: 'client-chosen id (optional)' })
  @IsOptional()
  @IsCanonicalUuid()
  nodeId?: string;
  @ApiProperty({ example: 'node1' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.101', description: 'underlay IPv4 (BGP sessions to the route reflectors)' })
  @IsIpAddress(4)
  underlayIp: string;
  @ApiPropertyOptional({ example: '2001:db8:ffff::101' })
  @IsOptional()
  @IsIpAddress(6)
  underlayIp6?: string;
}
export class ChangeBgpPasswordBody {
  @ApiProperty({ example: 'n3w-s3cret', description: 'new TCP MD5 password of every BGP session of the cluster (never returned)' })
  @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password: string;
}
export class AddRouteReflectorBody {
  @ApiProperty({ example: 'rr3' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.13' })
  @IsIpAddress()
  ip: string;
}
export class MigrateVmBody {
  @ApiProperty({ format: 'uuid', description: 'target node' })
  @IsCanonicalUuid()
  nodeId: string;
}
export class RollbackRouterConfigBody {
  @ApiProperty({ example: 3, description: 'the earlier version (GET /clusters/{id}/router/configs) whose configs become desired again' })
  @IsInt()
  @Min(1)
  @Max(2_147_483_647)
  toVersion: number;
  @ApiPropertyOptional({ example: 'v5 dropped the uplink sessions', description: 'why (kept in the audit with the actor), 1-200 printable characters' })
  @IsOptional()
  @Matches(BLACKHOLE_REASON_PATTERN, { message: 'reason must be 1-200 printable characters' })
  reason?: string;
}
export class DrainNodeBody {
  @ApiPropertyOptional({ example: true, description: 'also move every VM of the node to other nodes (as POST /nodes/{id}/evacuate)' })
  @IsOptional()
  @IsBoolean()
  evacuate?: boolean;
}

export class BlackholeBody {
  @ApiProperty({ example: 'udp flood 12 Gbit/s', description: 'why (kept in the audit with the actor), 1-200 printable characters' })
  @Matches(BLACKHOLE_REASON_PATTERN, { message: 'reason must be 1-200 printable characters' })
  reason: string;
}

export class AddVmAddressBody {
  @ApiPropertyOptional({ example: 4, enum: [4, 6], description: "the address family (default: the ip's, else 4)" })
  @IsOptional()
  @IsIn([4, 6])
  family?: 4 | 6;
  @ApiPropertyOptional({ example: '203.0.113.51', description: 'a specific address of a pool of the cluster (default: the next free one)' })
  @IsOptional()
  @IsIpAddress()
  ip?: string;
}

export class CreatePrivateNetworkBody {
  @ApiPropertyOptional({ format: 'uuid', description: 'client-chosen id (optional)' })
  @IsOptional()
  @IsCanonicalUuid()
  networkId?: string;
  @ApiProperty({ example: 'customer-1', description: 'the tenant: only its VMs may attach' })
  @IsOwnerId()
  ownerId: string;
  @ApiProperty({ example: 'backend', description: 'unique per owner in the cluster; letters, digits, dashes' })
  @IsFabricName()
  name: string;
  @ApiProperty({
    example: '192.168.10.0/24',
    description:
      'IPv4 inside RFC 1918 or 100.64.0.0/10, /16-/29; or IPv6 inside fc00::/7, /48-/124. Not overlapping the owner’s other networks or the cluster’s public ones',
  })
  @IsCidrBlock()
  cidr: string;
}
export class AttachPrivateNetworkBody {
  @ApiProperty({ format: 'uuid', description: 'a private network of the VM’s owner in the VM’s cluster' })
  @IsCanonicalUuid()
  networkId: string;
}
