// LIKE with user text: the text's own % and _ match literally.
import { sql, type RawBuilder } from 'kysely';

export const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => '\\' + c);

/** `column LIKE pattern`, with an explicit escape character: SQLite has none by default; PostgreSQL accepts the same clause. */
export function like(column: string, pattern: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(column)} like ${pattern} escape '\\'`;
}
