/* Generated from schemas/ by `npm run generate`: do not edit. */

export type GenerateHashAndWebhookMessage = (GenerateHashAndWebhookEnvelope | GenerateHashAndWebhookFlat)

/**
 * The task envelope: `generate_hash_and_webhook` with its kwargs.
 */
export interface GenerateHashAndWebhookEnvelope {
task: ("app.tasks.generate_hash_and_webhook" | "generate_hash_and_webhook")
id?: (string | null)
/**
 * @maxItems 0
 */
args?: []
kwargs: HashRequest
}
/**
 * kwargs of `generate_hash_and_webhook`: the start of a stem.
 */
export interface HashRequest {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
userId?: (string | null)
trackId?: (string | null)
timestamp?: (string | null)
original_filename?: (string | null)
stageId?: (string | null)
}
/**
 * The kwargs alone at the top level, with the task beside them.
 */
export interface GenerateHashAndWebhookFlat {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
userId?: (string | null)
trackId?: (string | null)
timestamp?: (string | null)
original_filename?: (string | null)
stageId?: (string | null)
task?: (("app.tasks.generate_hash_and_webhook" | "generate_hash_and_webhook") | null)
}
