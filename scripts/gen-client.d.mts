/** client/src/schema.ts, absolute. */
export const SCHEMA_FILE: string;
/** The text of client/src/schema.ts for the current server/openapi.ts. */
export function clientSchemaSource(): Promise<string>;
