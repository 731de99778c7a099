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

/** The fields of an object input that are valid on their own (checks of them can run while others fail). */
export function validFields<S extends z.ZodObject>(schema: S, input: unknown): Partial<z.infer<S>> {
  const out: Record<string, unknown> = {};
  if (typeof input !== "object" || input === null) return out as Partial<z.infer<S>>;
  for (const [key, field] of Object.entries(schema.shape)) {
    const r = (field as z.ZodType).safeParse((input as Record<string, unknown>)[key]);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out as Partial<z.infer<S>>;
}

/**
 * Field problems gathered from the schema and from the checks after it, thrown as one error so a form
 * names every bad field at once (not one round per check). A field keeps its first problem.
 */
export class FieldProblems {
  readonly #fields: FieldIssue[] = [];
  readonly #messages: string[] = [];
  #conflictOnly = true;

  get empty(): boolean {
    return this.#fields.length === 0;
  }

  /** The schema's result, or null with its problems recorded. */
  parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> | null {
    try {
      return parseInput(schema, input, what);
    } catch (err) {
      this.#take(err);
      return null;
    }
  }

  /** Runs a check; a validation or conflict error that names fields is recorded instead of thrown. */
  check(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#take(err);
    }
  }

  #take(err: unknown): void {
    if (
      !(err instanceof AppError) || !["validation", "conflict"].includes(err.code) || err.fields.length === 0
    ) {
      throw err;
    }
    if (err.code !== "conflict") this.#conflictOnly = false;
    this.#messages.push(err.message);
    for (const f of err.fields) {
      if (!this.#fields.some((g) => g.field === f.field)) this.#fields.push(f);
    }
  }

  /** Throws every recorded problem: 409 when all are conflicts, else 422. */
  throwIfAny(): void {
    if (this.empty) return;
    throw new AppError(this.#conflictOnly ? "conflict" : "validation", this.#messages.join("; "), {
      fields: this.#fields,
    });
  }
}
