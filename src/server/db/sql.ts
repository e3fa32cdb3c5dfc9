/**
 * The app's database as the event layer's `SqlDatabase` (the database replay
 * log speaks SQL, not Prisma): statements through Prisma's client, or, for
 * statements without rows, straight through Prisma's driver adapter when one
 * is given, without the client's query interpreter and tracing around the
 * same driver call (the replay log's insert runs on every emit).
 */
import type { ArgType } from "@prisma/driver-adapter-utils";

import type { PrismaClient } from "~/generated/prisma/client";
import type { SqlDatabase, SqlParameter } from "~/server/events/sql-database";
import type { StatementRunner } from "./adapter";

const argTypeOf = (value: SqlParameter): ArgType => ({
  scalarType: typeof value === "number" ? (Number.isInteger(value) ? "int" : "float") : "string",
  arity: "scalar",
});

export function prismaSql(prisma: PrismaClient, driver?: () => Promise<StatementRunner>): SqlDatabase {
  let runner: Promise<StatementRunner> | undefined;
  return {
    query: <T extends object>(sql: string, params: readonly SqlParameter[]) =>
      prisma.$queryRawUnsafe<T[]>(sql, ...params),
    async execute(sql, params) {
      if (!driver) return prisma.$executeRawUnsafe(sql, ...params);
      runner ??= driver();
      return (await runner).executeRaw({ sql, args: [...params], argTypes: params.map(argTypeOf) });
    },
  };
}
