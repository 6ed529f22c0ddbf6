// Validates a Teams app manifest, or one of its language files, offline with Microsoft's
// @microsoft/app-manifest (bundled schemas). Usage:
//   node manifest/validate.mjs path/to/manifest.json
//   node manifest/validate.mjs --localization path/to/nl.json
// Prints a JSON array of errors; exit code 1 when there are any.
//
// A language file is checked with ajv against the bundled MicrosoftTeams.Localization.schema.json
// named by its $schema. Microsoft's v1.30 file has a pattern that is not a valid *unicode*
// regular expression (`activities.activityTypes\[\b(...)\b]`: "Lone quantifier brackets"), which
// the library's own validator compiles in unicode mode and fails on; so here unicodeRegExp is off.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", ".tools", "package.json"));
const { AppManifestUtils } = require("@microsoft/app-manifest");

const localization = process.argv[2] === "--localization";
const file = process.argv[localization ? 3 : 2];
const data = JSON.parse(readFileSync(file, "utf8"));
let errors;
if (localization) {
  const version = /\/teams\/(v[0-9.]+|vDevPreview)\//.exec(data.$schema ?? "")?.[1];
  if (!version) {
    errors = ["$schema must name a Teams localization schema version"];
  } else {
    const root = dirname(require.resolve("@microsoft/app-manifest/package.json"));
    const schemaFile = join(root, "build", "json-schemas", "teams", version,
      "MicrosoftTeams.Localization.schema.json");
    const schema = JSON.parse(readFileSync(schemaFile, "utf8"));
    const Ajv = require("ajv-draft-04");
    const addFormats = require("ajv-formats");
    const ajv = new (Ajv.default ?? Ajv)({ allErrors: true, strictTypes: false, strict: false,
      unicodeRegExp: false });
    (addFormats.default ?? addFormats)(ajv, ["uri", "email", "regex"]);
    const validate = ajv.compile(schema);
    errors = validate(data) ? [] : validate.errors.map(
      (e) => `${e.instancePath} ${e.message ?? ""}. Details: ${JSON.stringify(e.params ?? {})}`);
  }
} else {
  errors = await AppManifestUtils.validateAgainstSchema(data);
}
console.log(JSON.stringify(errors));
process.exit(errors.length ? 1 : 0);
