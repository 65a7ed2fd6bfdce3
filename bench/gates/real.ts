/** Placeholder: filled in below. */
export async function realBench(o: { runs: number; agents: number }): Promise<void> {
  throw new Error(`--real is not built yet (${o.runs} runs, ${o.agents} agents)`);
}
