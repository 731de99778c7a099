// Append-only schema migrations, one file each in ./migrations/ (vN.ts). Never edit a released one; add
// the next version as a new file and list it here.
import type { Migration } from "./migrations/migration.ts";
import { migration as v1 } from "./migrations/v1.ts";
import { migration as v2 } from "./migrations/v2.ts";
import { migration as v3 } from "./migrations/v3.ts";
import { migration as v4 } from "./migrations/v4.ts";
import { migration as v5 } from "./migrations/v5.ts";
import { migration as v6 } from "./migrations/v6.ts";
import { migration as v7 } from "./migrations/v7.ts";
import { migration as v8 } from "./migrations/v8.ts";
import { migration as v9 } from "./migrations/v9.ts";
import { migration as v10 } from "./migrations/v10.ts";
import { migration as v11 } from "./migrations/v11.ts";

export type { Migration } from "./migrations/migration.ts";

export const MIGRATIONS: readonly Migration[] = [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
