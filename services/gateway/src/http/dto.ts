/** HTTP bodies whose shape differs from the commands (ids come from the path). */
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsUUID, ValidateNested } from 'class-validator';
import { IsCidrBlock, IsFabricName, IsIpAddress, PoolInput } from '@fabric/contracts';

export class AddNetworkBody {
  @IsCidrBlock() cidr: string;
  @IsOptional() @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => PoolInput) pools?: PoolInput[];
}
export class AddPoolBody {
  @IsIpAddress() start: string;
  @IsIpAddress() end: string;
}
export class JoinNodeBody {
  @IsOptional() @IsUUID() nodeId?: string;
  @IsFabricName() name: string;
  @IsIpAddress(4) underlayIp: string;
  @IsOptional() @IsIpAddress(6) underlayIp6?: string;
}
export class AddRouteReflectorBody {
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
}
export class MigrateVmBody {
  @IsUUID() nodeId: string;
}
