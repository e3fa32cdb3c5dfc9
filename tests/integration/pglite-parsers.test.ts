/**
 * The embedded database's parser table is compacted after start-up (each query
 * copies it); every value must read back exactly as before, arrays included.
 */
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { compactParsers } from "~/server/pglite-parsers";

const ROW = `
  SELECT *, ARRAY[ROW(1, 'a')] AS "rows", (SELECT array_agg(x) FROM generate_series(1, 3) x) AS "aggregated"
  FROM sample`;

describe("PGlite parser compaction", () => {
  let pg: PGlite;
  beforeAll(async () => {
    pg = new PGlite("memory://");
    await pg.exec(`
      CREATE TYPE mood AS ENUM ('ok', 'sad');
      CREATE TABLE sample (
        ints int4[], texts text[], moods mood[], doc jsonb, times timestamptz[], big int8,
        flags bool[], amounts numeric[], mood mood, day date, ids uuid[], docs jsonb[]);
      INSERT INTO sample VALUES (
        '{1,2,NULL}', '{"x","y,z","{q}"}', '{ok,sad}', '{"k":[1,2]}', '{"2026-01-01 10:00:00+00"}',
        9007199254740993, '{t,f}', '{1.5,2}', 'ok', '2026-11-29',
        '{3f1c2a5e-1111-2222-3333-444455556666}', ARRAY['{"a":1}'::jsonb, '[2]'::jsonb])`);
  });
  afterAll(() => pg.close());

  it("reads every value as before, with a parser table of what is the instance's own only", async () => {
    const before = (await pg.query(ROW)).rows;
    const arrays = await pg.query(`SELECT '{1,2}'::int2[] AS small, '{{1,2},{3,4}}'::float8[] AS nested`);
    expect(Object.keys(pg.parsers).length).toBeGreaterThan(200);

    await compactParsers(pg);

    expect(Object.keys(pg.parsers).length).toBeLessThan(20);
    expect((await pg.query(ROW)).rows).toEqual(before);
    expect((await pg.query(`SELECT '{1,2}'::int2[] AS small, '{{1,2},{3,4}}'::float8[] AS nested`)).rows).toEqual(
      arrays.rows,
    );
    expect(before[0]).toMatchObject({
      ints: [1, 2, null],
      texts: ["x", "y,z", "{q}"],
      big: 9007199254740993n,
      flags: [true, false],
      aggregated: [1, 2, 3],
      docs: [{ a: 1 }, [2]],
    });
  });

  it("leaves an instance given its own element parser alone for that type's arrays", async () => {
    const custom = new PGlite("memory://", { parsers: { 23: (value: string) => `int:${value}` } });
    try {
      await compactParsers(custom);
      const { rows } = await custom.query<{ one: unknown; many: unknown }>(
        `SELECT 7::int4 AS one, '{1,2}'::int4[] AS many`,
      );
      expect(rows[0]).toEqual({ one: "int:7", many: ["int:1", "int:2"] });
      // ...and the first instance still reads int4 arrays with the built-in parser.
      expect((await pg.query(`SELECT '{5}'::int4[] AS v`)).rows[0]).toEqual({ v: [5] });
    } finally {
      await custom.close();
    }
  });
});
