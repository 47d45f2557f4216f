/** Invalid configuration; the message names the field and never holds a secret value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The subset of the Worker environment that configures the mirror. */
export type ConfigEnv = Record<string, unknown>;
