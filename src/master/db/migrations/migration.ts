/** One schema migration: applied once, in version order, inside a transaction. */
export type Migration = { readonly version: number; readonly name: string; readonly sql: string };
