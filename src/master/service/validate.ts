// Turns zod results into one AppError("validation") that names every bad field.
import type { z } from "zod";
import { AppError, type FieldIssue } from "../../core/errors.ts";

export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = "input"): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  // One entry per field; several problems with one field are joined.
  const byField = new Map<string, string[]>();
  for (const issue of result.error.issues) {
    const path = issue.path.filter((p) => typeof p !== "number");
    const field = path.length > 0 ? path.join(".") : "body";
    byField.set(field, [...(byField.get(field) ?? []), issue.message]);
  }
  const fields: FieldIssue[] = [...byField].map(([field, messages]) => ({
    field,
    message: messages.join("; "),
  }));
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  throw new AppError("validation", `Invalid ${what}: ${summary}`, { fields });
}
