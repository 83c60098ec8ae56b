/** The servers bench/plugin.ts can compare (bench/plugin-server.ts documents each). */
export const SERVER_MODES = [
  'bare',
  'plugin',
  'plugin-identity',
  'plugin-observations',
  'empty-hooks',
  'empty-hooks-on-response',
  'plugin-no-recording',
  'plugin-no-delivery',
] as const;
export type ServerMode = (typeof SERVER_MODES)[number];
