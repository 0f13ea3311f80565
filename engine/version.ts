/** The Keyward version, reported by health and `keyward --version`. A module of its own so the CLI can read it without loading the engine. */
export const VERSION = '0.1.0';
