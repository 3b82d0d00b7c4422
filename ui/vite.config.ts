import { defineConfig } from "vite";

// Relative asset paths: the same build is embedded by Tauri and served by the server at /.
export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2021" },
  server: { port: 5173, strictPort: true },
  clearScreen: false,
});
