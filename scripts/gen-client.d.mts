/** client/src/schema.ts, absolute. */
export const SCHEMA_FILE: string;
/** The text of client/src/schema.ts for the current server/openapi.ts. */
export function clientSchemaSource(): Promise<string>;
/** client/src/operations.ts, absolute. */
export const OPERATIONS_FILE: string;
/** The text of client/src/operations.ts for the current engine/operations.ts. */
export function clientOperationsSource(): Promise<string>;
