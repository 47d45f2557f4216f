// Vite hands a file's text to `import text from "./file?raw"` (specs that read the docs).
declare module "*?raw" {
  const text: string;
  export default text;
}
