import { RegistryError } from "../../src/oci/errors";

/** The RegistryError `promise` rejects with; fails the test when it resolves or throws anything else. */
export async function registryRejection(promise: Promise<unknown>): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RegistryError) return error;
    throw error;
  }
  throw new Error("did not reject");
}
