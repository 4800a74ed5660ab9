// Validates an AsyncAPI document (with its external $refs) and fails on any error-level diagnostic.
// Payloads in OpenAPI 3.0 format (schemaFormat application/vnd.oai.openapi) are parsed and checked
// with the AsyncAPI project's own OpenAPI schema parser.
import { Parser, fromFile } from '@asyncapi/parser';
import { OpenAPISchemaParser } from '@asyncapi/openapi-schema-parser';
import path from 'node:path';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate-asyncapi.mjs <asyncapi.yaml|json>...');
  process.exit(2);
}
const parser = new Parser({ schemaParsers: [OpenAPISchemaParser()] });
let failed = false;
for (const file of files) {
  const { document, diagnostics } = await fromFile(parser, path.resolve(file)).parse();
  const errors = diagnostics.filter((d) => d.severity === 0);
  // Errors and warnings are shown; info and hints (e.g. "a newer AsyncAPI version exists") are advice.
  for (const d of diagnostics.filter((d) => d.severity <= 1)) {
    const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? 'note';
    console.log(`${level}: ${d.message} at ${d.path.join('.')}`);
  }
  if (!document || errors.length > 0) {
    console.error(`${file}: ${errors.length} error(s)`);
    failed = true;
    continue;
  }
  const payloads = document.messages().all().filter((m) => m.hasPayload()).length;
  console.log(`${file}: valid AsyncAPI ${document.version()} with ${document.channels().length} channels, ${document.messages().length} messages (${payloads} payloads parsed)`);
}
process.exit(failed ? 1 : 0);
