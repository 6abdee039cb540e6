import { BadRequestException, ValidationPipe } from '@nestjs/common';
import { validationFields } from '@fabric/eventstore';

/** class-validator on every body; unknown fields are refused, errors listed per field. */
export const apiValidationPipe = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => new BadRequestException({ status: 400, code: 'validation-failed', message: 'request has invalid fields', fields: validationFields(errors) }),
  });
