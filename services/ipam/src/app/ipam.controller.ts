import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { EventOf, StoredEvent } from '@fabric/contracts';
import { IpamService } from './ipam-service';

/** Reacts to VM lifecycle events (fed by the JetStream transport; a handler that throws is not acked). */
@Controller()
export class IpamController {
  constructor(private readonly ipam: IpamService) {}

  @EventPattern('VmCreated')
  onVmCreated(@Payload() e: StoredEvent<EventOf<'VmCreated'>>) {
    return this.ipam.onVmCreated(e);
  }

  @EventPattern('VmAddressRequested')
  onVmAddressRequested(@Payload() e: StoredEvent<EventOf<'VmAddressRequested'>>) {
    return this.ipam.onVmAddressRequested(e);
  }

  @EventPattern('VmAddressRemoved')
  onVmAddressRemoved(@Payload() e: StoredEvent<EventOf<'VmAddressRemoved'>>) {
    return this.ipam.onVmAddressRemoved(e);
  }

  @EventPattern('VmDeleted')
  onVmDeleted(@Payload() e: StoredEvent<EventOf<'VmDeleted'>>) {
    return this.ipam.onVmDeleted(e);
  }
}
