/** OpenAPI (generated from the controllers and DTOs) at /api/docs, JSON at /api/docs-json. */
import { applyDecorators } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiResponse, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

export class ApiErrorDto {
  @ApiProperty({ example: 404 }) status: number;
  @ApiProperty({ example: 'vm-not-found', description: 'machine-readable reason' }) code: string;
  @ApiProperty({ example: 'vm 7d7e… not found' }) message: string;
  @ApiPropertyOptional({
    description: 'per-field messages (400)',
    example: { cidr: ['cidr must be a CIDR block like 203.0.113.0/24 or 2001:db8::/64'] },
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
  })
  fields?: Record<string, string[]>;
}

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid input (`fields` lists the offending fields)',
  401: 'no, invalid or revoked API token',
  403: "the token's role may not do this",
  404: 'unknown id',
  409: 'conflict with the current state (taken name, overlapping network, drained node, …)',
};

/** Documents the `{status, code, message, fields?}` error responses. */
export const ApiErrors = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERROR_TEXT[status] ?? 'error', type: ApiErrorDto })));

/** Every token-protected controller: bearer auth + 401/403. */
export const ApiAuth = () => applyDecorators(ApiBearerAuth('token'), ApiErrors(401, 403));

export function setupApiDocs(app: INestApplication) {
  const config = new DocumentBuilder()
    .setTitle('ip-fabric control plane')
    .setDescription(
      'IP-Fabric control plane: clusters, nodes, networks and VMs (each VM a routed /32 or /128). ' +
        'Every endpoint but GET /health needs `Authorization: Bearer <token>` (roles admin, operator, billing, rtbh). ' +
        'Errors are `{status, code, message, fields?}`. Writes accept an `Idempotency-Key` header.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API token (POST /api/v1/tokens)' }, 'token')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json', customSiteTitle: 'ip-fabric API' });
  return document;
}
