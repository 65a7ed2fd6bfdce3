/** Milliseconds since 1970. Injected so tests and the simulator can move time by hand. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
