// Validates a Teams app manifest offline with Microsoft's @microsoft/app-manifest (bundled
// schemas). Usage: node manifest/validate.mjs path/to/manifest.json  -> prints a JSON array of
// errors; exit code 1 when there are any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", ".tools", "package.json"));
const { AppManifestUtils } = require("@microsoft/app-manifest");

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
const errors = await AppManifestUtils.validateAgainstSchema(manifest);
console.log(JSON.stringify(errors));
process.exit(errors.length ? 1 : 0);
