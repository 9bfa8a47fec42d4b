/**
 * `npm run generate`: schemas/ (written by WaveFlow's one schema generator, `python -m waveflow.wire_schemas`,
 * from its pydantic models) → src/generated/: one TypeScript module of types per schema
 * (json-schema-to-typescript) and `schemas.ts`, the same schemas as data for the run-time validators (ajv).
 * tests/test_nestjs_kit.py fails when src/generated/ is not what this writes.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { compile } from 'json-schema-to-typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCHEMAS = join(ROOT, 'schemas');
const GENERATED = join(ROOT, 'src', 'generated');
const BANNER = '/* Generated from schemas/ by `npm run generate`: do not edit. */';

/** Schema file → the name of its root type (the schemas' own titles are sentences for people). */
const ROOT_TYPES = {
  'messages/generate_hash_and_webhook.schema.json': 'GenerateHashAndWebhookMessage',
  'messages/process_audio_analysis.schema.json': 'ProcessAudioAnalysisMessage',
  'messages/process_duplicate_file.schema.json': 'ProcessDuplicateFileMessage',
  'messages/mix_stems_and_upload.schema.json': 'MixStemsAndUploadMessage',
  'messages/cleanup_temp_files.schema.json': 'CleanupTempFilesMessage',
  'messages/health_check.schema.json': 'HealthCheckMessage',
  'webhooks/hash-check.schema.json': 'HashCheckPayload',
  'webhooks/completion.schema.json': 'CompletionPayload',
  'webhooks/mixing-complete.schema.json': 'MixingCompletePayload',
  'signals/decide.schema.json': 'DedupeDecision',
  'updates/decide.result.schema.json': 'DecisionReceipt',
};

function schemaFiles(directory) {
  return readdirSync(directory, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? schemaFiles(join(directory, entry.name)) : entry.name.endsWith('.schema.json') ? [join(directory, entry.name)] : [],
    )
    .sort();
}

/** Drops pydantic's per-field titles ("Stemid"), which would each become a needless TypeScript alias. */
function withoutFieldTitles(schema) {
  if (Array.isArray(schema)) return schema.map(withoutFieldTitles);
  if (schema === null || typeof schema !== 'object') return schema;
  const cleaned = Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, withoutFieldTitles(value)]));
  if (cleaned.properties) {
    cleaned.properties = Object.fromEntries(
      Object.entries(cleaned.properties).map(([name, field]) => {
        const { title: _title, ...rest } = field;
        return [name, rest];
      }),
    );
  }
  return cleaned;
}

const names = schemaFiles(SCHEMAS).map((path) => relative(SCHEMAS, path).split('\\').join('/'));
const unnamed = names.filter((name) => !(name in ROOT_TYPES));
if (unnamed.length) throw new Error(`no root type name for ${unnamed.join(', ')}: add it to ROOT_TYPES`);

rmSync(GENERATED, { recursive: true, force: true });
const data = {};
for (const name of names) {
  const schema = JSON.parse(readFileSync(join(SCHEMAS, name), 'utf8'));
  data[name.replace(/\.schema\.json$/, '')] = schema;
  const typed = { ...withoutFieldTitles(schema), title: ROOT_TYPES[name] };
  delete typed.$schema;
  const source = await compile(typed, ROOT_TYPES[name], {
    bannerComment: BANNER,
    additionalProperties: false,
    format: false,
    declareExternallyReferenced: true,
  });
  const target = join(GENERATED, name.replace(/\.schema\.json$/, '.ts'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, source);
}
const keys = Object.keys(data);
writeFileSync(
  join(GENERATED, 'schemas.ts'),
  `${BANNER}\n\n/** The name of each wire schema: its path under schemas/ without \`.schema.json\`. */\n` +
    `export type WireSchemaName =\n${keys.map((key) => `  | '${key}'`).join('\n')};\n\n` +
    `/** WaveFlow's JSON Schemas (draft 2020-12), what the validators check every payload against. */\n` +
    `export const WIRE_SCHEMAS: Readonly<Record<WireSchemaName, Record<string, unknown>>> = ${JSON.stringify(data, null, 2)};\n`,
);
console.log(`wrote ${names.length} type modules and schemas.ts into ${relative(ROOT, GENERATED)}`);
