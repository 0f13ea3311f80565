import type { PGlite } from '@electric-sql/pglite';

export declare function dumpCompactImage(client: PGlite): Promise<Blob>;
export declare function compactWal(tar: Uint8Array, keep: string | undefined): Uint8Array | undefined;
