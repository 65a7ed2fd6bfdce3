/** @edgefleet/sim: many real agents in one process over simulated hardware, inference and links. */
export const SIM_VERSION = '0.1.0';
