/**
 * The decider pattern (decide / evolve / initialState), as in oskardudycz/EventSourcing.NodeJS samples/decider.
 * `decide` throws a DomainError to refuse; it never performs I/O. Cross-aggregate facts a decision needs
 * (does the node exist, is the name taken) are looked up by the command handler and passed in the command.
 *
 * `evolve` may update and return the given state object instead of copying it: IPAM state holds tens of
 * thousands of addresses and copying it per event would make loading quadratic. Callers never reuse an old state.
 */
export interface Decider<Command, State, Event> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}
