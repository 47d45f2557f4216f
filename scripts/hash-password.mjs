#!/usr/bin/env node
// Prints a salted PBKDF2 hash of a password for MIRROR_USERS ({"user": {"hash": "..."}}), so the secret
// holds no plain password. Usage: node scripts/hash-password.mjs  (reads the password from stdin)
import { pbkdf2Sync, randomBytes } from "node:crypto";

const ITERATIONS = 100_000; // Workers' PBKDF2 allows at most 100,000 iterations.

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const password = input.replace(/\r?\n$/, "");
if (!password) {
  console.error("usage: printf %s 'password' | node scripts/hash-password.mjs");
  process.exit(2);
}
const salt = randomBytes(16);
const hash = pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
console.log(`pbkdf2-sha256$${ITERATIONS}$${salt.toString("base64")}$${hash.toString("base64")}`);
