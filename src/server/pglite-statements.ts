import type { PGlite } from "@electric-sql/pglite";
import type { ArgType, SqlQuery, SqlQueryable } from "@prisma/driver-adapter-utils";
import { serialize } from "pg-protocol";

/** What runs a statement without result rows and answers how many rows it changed. */
export type StatementRunner = Pick<SqlQueryable, "executeRaw">;

/** How many distinct statements are kept prepared; past that, statements are parsed on each run. */
const MAX_PREPARED = 32;

/** Statement names are unique in the process: several runners may share one database. */
let named = 0;

/** A date as Prisma's PGlite adapter sends it: the UTC time, without a zone. */
const timestampText = (date: Date) => date.toISOString().slice(0, 23).replace("T", " ");

function textOf(arg: unknown, type: ArgType | undefined): string | null {
  if (arg === null || arg === undefined) return null;
  if (type?.scalarType === "datetime" && (typeof arg === "string" || arg instanceof Date)) {
    return timestampText(new Date(arg));
  }
  if (typeof arg === "string") return arg;
  if (typeof arg === "number" || typeof arg === "bigint" || typeof arg === "boolean") return String(arg);
  throw new TypeError(`unsupported statement argument of type ${typeof arg}`);
}

/** Rows changed, from a CommandComplete tag such as `INSERT 0 1` or `DELETE 3`. */
function affectedRows(tag: string | undefined): number {
  const count = Number(tag?.split(" ").at(-1));
  return Number.isFinite(count) ? count : 0;
}

/**
 * Statements without result rows (the replay log's insert, which every emit
 * runs) on the embedded database, as prepared statements in one round trip.
 *
 * PGlite's `query()` makes six calls into the database per statement (Parse,
 * Describe, Bind, Describe, Execute, Sync), parses and plans the statement
 * each time and reads the answer through its full result parser: for a
 * one-row insert, about half its CPU. Here a statement's text is parsed once
 * per process, under a name of its own, and each run is one call: Bind,
 * Execute, Sync, with every parameter as text whose type the server infers
 * from the statement, as with `query()`.
 *
 * A run holds PGlite's transaction and query locks, as `query()` does, so it
 * never lands inside a transaction another caller has open on the single
 * connection. Errors are PGlite's `DatabaseError`s, and a statement that
 * failed is parsed again on its next run.
 */
export class PreparedStatements implements StatementRunner {
  private readonly prepared = new Map<string, string>();

  constructor(private readonly pg: PGlite) {}

  async executeRaw({ sql, args, argTypes }: SqlQuery): Promise<number> {
    const values = args.map((arg, i) => textOf(arg, argTypes[i]));
    return this.pg._runExclusiveTransaction(() =>
      this.pg._runExclusiveQuery(async () => {
        let name = this.prepared.get(sql);
        const parts: Buffer[] = [];
        if (name === undefined) {
          name = this.prepared.size < MAX_PREPARED ? `live_events_${++named}` : "";
          parts.push(serialize.parse({ name, text: sql }));
          if (name) this.prepared.set(sql, name);
        }
        parts.push(serialize.bind({ statement: name, values }), serialize.execute(), serialize.sync());
        try {
          const { messages } = await this.pg.execProtocol(Buffer.concat(parts));
          const done = messages.findLast((m) => m.name === "commandComplete") as { text?: string } | undefined;
          return affectedRows(done?.text);
        } catch (error) {
          this.prepared.delete(sql);
          throw error;
        }
      }),
    );
  }
}
