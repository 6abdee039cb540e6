import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { IsFabricName } from '@fabric/contracts';
import { ApiAuth, ApiErrors } from '../http/api-docs';
import { Roles } from './roles';
import { uuidParam } from '../http/validation';
import { Role, ROLES, TokenStore } from './tokens';

export class CreateTokenBody {
  @ApiProperty({ example: 'ops-alice', description: 'who or what uses it; appears as the actor of its writes' })
  @IsFabricName()
  name: string;
  @ApiProperty({ enum: ROLES, example: 'operator' })
  @IsIn(ROLES)
  role: Role;
}
class TokenDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'ops-alice' }) name: string;
  @ApiProperty({ enum: ROLES }) role: Role;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time', nullable: true }) lastUsedAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true }) revokedAt: string | null;
}
class CreatedTokenDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'ops-alice' }) name: string;
  @ApiProperty({ enum: ROLES }) role: Role;
  @ApiProperty({ description: 'the secret: shown only in this response, stored hashed', example: 'fab_Zm9vYmFy…' }) token: string;
}

const uuid = uuidParam;

@ApiTags('tokens')
@ApiAuth()
@Roles('admin')
@Controller('tokens')
export class TokensController {
  constructor(@Inject(TokenStore) private readonly tokens: TokenStore) {}

  @Post()
  @ApiOperation({ summary: 'Create an API token (admin); the token is returned only here' })
  @ApiResponse({ status: 201, type: CreatedTokenDto })
  @ApiErrors(400)
  create(@Body() body: CreateTokenBody) {
    return this.tokens.create(body.name, body.role);
  }

  @Get()
  @ApiOperation({ summary: 'List API tokens (admin), without secrets' })
  @ApiResponse({ status: 200, type: [TokenDto] })
  list() {
    return this.tokens.list();
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke an API token (admin); it answers 401 from now on' })
  @ApiResponse({ status: 200, type: TokenDto })
  @ApiErrors(400, 404)
  async revoke(@Param('id', uuid) id: string) {
    const t = await this.tokens.revoke(id);
    if (!t) throw new NotFoundException({ status: 404, code: 'token-not-found', message: `token ${id} not found` });
    return t;
  }
}
