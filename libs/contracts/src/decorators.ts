/** class-validator decorators for the fabric's value types, shared by events, commands and HTTP DTOs. */
import { Matches, ValidateBy, type ValidationOptions, buildMessage } from 'class-validator';
import { COMMUNITY_PATTERN, NAME_PATTERN, OWNER_PATTERN, UUID_PATTERN, isAsn, isCidr, isCommunity, isCoreCommunity, isIp, isMac } from './validation';

export const IsFabricName = (o?: ValidationOptions) =>
  Matches(NAME_PATTERN, { message: '$property must be 1-63 letters, digits or dashes, starting and ending with a letter or digit', ...o });
export const IsOwnerId = (o?: ValidationOptions) =>
  Matches(OWNER_PATTERN, { message: '$property must be 1-128 characters of letters, digits and . _ : @ -', ...o });

export const IsAsn = (o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isAsn',
      validator: { validate: (v) => isAsn(v), defaultMessage: buildMessage((e) => `${e}$property must be an integer ASN between 1 and 4294967295`, o) },
    },
    o,
  );
export const IsCommunity = (o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isCommunity',
      validator: {
        validate: (v) => isCommunity(v),
        defaultMessage: buildMessage((e) => `${e}$property must be a BGP community "asn:value" (each 0-65535)`, o),
      },
    },
    o,
  );
export const IsCoreCommunity = (o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isCoreCommunity',
      validator: {
        validate: (v) => isCoreCommunity(v),
        defaultMessage: buildMessage((e) => `${e}$property must be "no-export", "none" or a BGP community "asn:value" (each 0-65535)`, o),
      },
    },
    o,
  );
export const IsIpAddress = (family?: 4 | 6, o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isIpAddress',
      validator: {
        validate: (v) => isIp(v, family),
        defaultMessage: buildMessage((e) => `${e}$property must be a valid IP${family ? 'v' + family : ''} address`, o),
      },
    },
    o,
  );
export const IsCidrBlock = (o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isCidr',
      validator: {
        validate: (v) => isCidr(v),
        defaultMessage: buildMessage((e) => `${e}$property must be a CIDR block like 203.0.113.0/24 or 2001:db8::/64`, o),
      },
    },
    o,
  );
export const IsMacAddress = (o?: ValidationOptions) =>
  ValidateBy(
    {
      name: 'isMacAddress',
      validator: { validate: (v) => isMac(v), defaultMessage: buildMessage((e) => `${e}$property must be a MAC address like fe:ff:ff:ff:ff:ff`, o) },
    },
    o,
  );

export { COMMUNITY_PATTERN };
/** Ids are lower-case UUIDs only: an upper-case copy of an id must never address (or create) a second aggregate. */
export const IsCanonicalUuid = (o?: ValidationOptions) =>
  Matches(UUID_PATTERN, { message: '$property must be a lower-case UUID like 7d7e0c2a-1b2c-4d3e-8f90-0123456789ab', ...o });
