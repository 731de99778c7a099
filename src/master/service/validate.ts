// Turns zod results into one AppError("validation") that names every bad field.
import type { z } from "zod";
import { AppError, type FieldIssue } from "../../core/errors.ts";

export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = "input"): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: FieldIssue[] = result.error.issues.map((i) => ({
    field: i.path.length > 0 ? i.path.join(".") : "body",
    message: i.message,
  }));
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  throw new AppError("validation", `Invalid ${what}: ${summary}`, { fields });
}
