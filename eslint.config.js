// ESLint flat config in the shape create-t3-app ships: Next's core-web-vitals
// rules, React hooks, and typescript-eslint's type-checked presets.
import nextPlugin from "@next/eslint-plugin-next";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: [".next", "node_modules", "src/generated", "next-env.d.ts", "coverage", "bench/results"] },
  nextPlugin.configs["core-web-vitals"],
  reactHooks.configs.flat["recommended-latest"],
  {
    files: ["**/*.ts", "**/*.tsx"],
    extends: [
      ...tseslint.configs.recommended,
      ...tseslint.configs.recommendedTypeChecked,
      ...tseslint.configs.stylisticTypeChecked,
    ],
    rules: {
      "@typescript-eslint/array-type": "off",
      "@typescript-eslint/consistent-type-definitions": "off",
      "@typescript-eslint/consistent-type-imports": [
        "warn",
        { prefer: "type-imports", fixStyle: "inline-type-imports" },
      ],
      "@typescript-eslint/no-unused-vars": ["warn", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { attributes: false } }],
      // No-op defaults (a silent logger, an optional callback) are deliberate here.
      "@typescript-eslint/no-empty-function": "off",
      // Rethrowing what a catch received keeps its type unknown.
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
    },
  },
  {
    // The event layer is a library inside the app: zod, Node and its own files, nothing else.
    // tRPC, Prisma, Auth.js and Next adapt to it at the edges (docs/architecture.md).
    files: ["src/server/events/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!zod$|node:|\\./)",
              message: "src/server/events imports zod, Node (node:*) and its own files only.",
            },
          ],
        },
      ],
    },
  },
  {
    // Library internals break on a patch release without a type error: public APIs only.
    files: ["**/*.ts", "**/*.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@trpc/*/unstable-*", "**/unstable-core-do-not-import*"], message: "tRPC's public API only." },
          ],
        },
      ],
    },
    ignores: ["src/server/events/**"],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: true },
    languageOptions: { parserOptions: { projectService: true } },
  },
);
