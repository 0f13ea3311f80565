export declare const ROOT: string;
export declare const DIST_MAIN: string;
export declare function distIsFresh(): boolean;
