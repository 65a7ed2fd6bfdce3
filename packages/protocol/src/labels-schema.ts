import { z } from 'zod';
import { labelKeyProblem, labelValueProblem } from './labels.js';

/** A label map whose keys and values follow the Kubernetes label rules. */
export const LabelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    const problem = labelKeyProblem(k) ?? labelValueProblem(v);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `invalid label "${k}=${v}": ${problem}` });
  }
});
