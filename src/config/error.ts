/** Invalid configuration; the message names the field and never holds a secret value. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
